"""Resampling images through a coordinate map, and deskewing by moments.

Pure NumPy, batched: ``images`` are float arrays (n, h, w). Used by the web
app on every drawing (``deskew``) and by training-time augmentation
(``bilinear_sample`` with random maps), so both see the same geometry.
"""

import functools

import numpy as np


def bilinear_sample(images, ys, xs):
    """Sample ``images`` (n, h, w) at fractional rows ``ys`` and columns ``xs`` (n, h, w).

    Points outside the image read as 0 (background). Returns float32 (n, h, w).
    """
    n, h, w = images.shape
    padded = np.zeros((n, h + 2, w + 2), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = images
    # Shift into padded coordinates and clamp to the zero border, so every
    # neighbour index is valid and points far outside blend only zeros.
    # Everything stays float32: mixing in integer arrays would promote to float64.
    ys = np.add(ys, np.float32(1), dtype=np.float32)
    xs = np.add(xs, np.float32(1), dtype=np.float32)
    np.clip(ys, 0, h + 1, out=ys)
    np.clip(xs, 0, w + 1, out=xs)
    y0 = np.minimum(np.floor(ys), h)
    x0 = np.minimum(np.floor(xs), w)
    ys -= y0
    xs -= x0
    # Flat index of each top-left neighbour, summed in float32 (exact below 2**24).
    assert n * (h + 2) * (w + 2) < 2**24, "too many images for float32 indices; chunk them"
    y0 *= w + 2
    y0 += x0
    y0 += np.arange(0, n * (h + 2) * (w + 2), (h + 2) * (w + 2), dtype=np.float32)[:, None, None]
    top_left = y0.astype(np.intp)
    # The other three neighbours are the same indices into shifted views.
    flat = padded.reshape(-1)
    top = flat.take(top_left)
    top_right = flat[1:].take(top_left)
    bottom = flat[w + 2:].take(top_left)
    bottom_right = flat[w + 3:].take(top_left)
    top_right -= top
    top_right *= xs
    top += top_right
    bottom_right -= bottom
    bottom_right *= xs
    bottom += bottom_right
    bottom -= top
    bottom *= ys
    top += bottom
    return top


@functools.cache
def grid(h, w):
    """Row and column coordinates (h, w) of each pixel, float32 (read-only: shared)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return read_only(ys.astype(np.float32)), read_only(xs.astype(np.float32))


@functools.cache
def moment_basis(h, w):
    """(h·w, 5) float64: 1, y, x, y², xy per pixel; an image's row times it gives its sums."""
    ys, xs = grid(h, w)
    return read_only(np.stack([np.ones(h * w), ys.ravel(), xs.ravel(), ys.ravel() ** 2,
                               (xs * ys).ravel()], axis=1))


def read_only(array):
    array.flags.writeable = False
    return array


def moments(images):
    """Centre of mass and second moments of each image (n, h, w).

    Returns ``(cy, cx, var_y, cov_xy, mass)``, each of shape (n,). Blank
    images get the image centre and zero spread.
    """
    n, h, w = images.shape
    sums = images.reshape(n, -1).astype(np.float64) @ moment_basis(h, w)
    mass = sums[:, 0]
    safe = np.where(mass > 0, mass, 1.0)
    cy = np.where(mass > 0, sums[:, 1] / safe, (h - 1) / 2)
    cx = np.where(mass > 0, sums[:, 2] / safe, (w - 1) / 2)
    var_y = np.where(mass > 0, sums[:, 3] / safe - cy ** 2, 0.0)
    cov_xy = np.where(mass > 0, sums[:, 4] / safe - cx * cy, 0.0)
    return cy, cx, var_y, cov_xy, mass


def deskew(images, max_shear=1.0):
    """Straighten slanted digits and centre their mass (LeCun et al.'s deskewing).

    Each image (n, h, w) is sheared horizontally by ``cov(x, y) / var(y)``
    (clipped to ``max_shear``) so its principal axis becomes vertical, and
    shifted so its centre of mass lands on the image centre. Returns float32.
    """
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    cy, cx, var_y, cov_xy, _ = moments(images)
    alpha = np.clip(np.divide(cov_xy, var_y, out=np.zeros_like(var_y), where=var_y > 1e-6),
                    -max_shear, max_shear).astype(np.float32)
    ys, xs = grid(h, w)
    centre_y, centre_x = np.float32((h - 1) / 2), np.float32((w - 1) / 2)
    # Output pixel (y, x) reads the input where the shear sends it: rows are
    # shifted so the output centre reads the centre of mass, columns are also
    # slanted by alpha around that row.
    src_y = ys[None] + (cy.astype(np.float32) - centre_y)[:, None, None]
    src_x = (xs[None] + alpha[:, None, None] * (ys[None] - centre_y)
             + (cx.astype(np.float32) - centre_x)[:, None, None])
    return bilinear_sample(images, src_y, src_x)


def prepare(images, use_deskew=True):
    """uint8 (0..255) or float (0..1) images (n, 28, 28) → float32 rows (n, 784) in [0, 1].

    The one place that scales pixels and applies deskewing; callers holding a
    network use ``inputs(net, images)``, which reads the choice from the network.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.max(initial=0) > 1:
        images = images / np.float32(255)
    if use_deskew:
        images = np.concatenate([deskew(images[i:i + 1024]) for i in range(0, len(images), 1024)]
                                ) if len(images) else images
    return np.clip(images, 0, 1).reshape(len(images), -1)


def inputs(net, images):
    """28×28 images (n, 28, 28) → ``net``'s input rows (n, 784), as ``net`` was trained.

    Serving, evaluation, training and retraining all call this, so a model is
    always read with the preprocessing it carries (``net.deskew``).
    """
    return prepare(images, net.deskew)
