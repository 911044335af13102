"""Training-time augmentation: random affine maps, elastic distortion, stroke thickness,
and (given labels) the handwriting styles of ``model.styles``.

People draw digits bigger, smaller, rotated, wobblier and bolder than MNIST's
writers did; each epoch sees the training set through fresh random
distortions so the network learns the digit, not the pixels. Everything is
batched NumPy; images are float32 (n, 28, 28) in [0, 1], white ink on black.

Elastic distortion follows Simard, Steinkraus & Platt (2003): a random
displacement field smoothed by a Gaussian of width ``sigma`` and scaled by
``alpha``. The smoothing is a matrix product with a Gaussian convolution
matrix, and with the affine part it makes every chunk's maps one matrix
product (see ``coordinate_basis``), far cheaper than filtering image by image.
"""

import functools
from dataclasses import dataclass, field

import numpy as np

from .geometry import bilinear_sample
from .styles import StyleConfig, add_styles


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 12.0   # uniform in ±this
    scale: float = 0.12              # overall scale uniform in 1 ± this
    aspect: float = 0.12             # log x/y stretch uniform in ±this
    shear: float = 0.15              # horizontal shear uniform in ±this
    shift: float = 1.5               # pixels, uniform in ±this
    elastic_alpha: float = 30.0      # Simard's alpha: displacement scale
    elastic_sigma: float = 4.5       # Simard's sigma: smoothness (pixels)
    thicken: float = 0.3             # fraction of images dilated by up to one pixel
    thin: float = 0.15               # fraction of images eroded by up to one pixel
    chunk: int = 256                 # images per vectorised chunk (fits in cache)
    styles: StyleConfig | None = field(default_factory=StyleConfig)  # needs labels


def gaussian_matrix(size, sigma):
    """(size, size) matrix whose product with a vector is its Gaussian blur (zero padded)."""
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    radius = int(np.ceil(4 * sigma))
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2) * (np.abs(offsets) <= radius)
    return kernel / np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()


@functools.lru_cache(maxsize=8)
def coordinate_basis(size, sigma, spacing=4):
    """The rows that every random map is a linear combination of: (3 + k*k, size*size).

    The first three rows are each pixel's row, column and 1 (centred), for the
    affine part. The rest are Gaussian bumps on a coarse grid: uniform noise
    on every ``spacing``-th pixel, blurred, is Simard's elastic field; noise on
    the skipped pixels adds almost nothing once blurred by sigma >= spacing,
    and leaving it out makes a whole chunk's maps a single matrix product.
    """
    ys, xs = np.mgrid[0:size, 0:size] - (size - 1) / 2
    # sqrt(spacing) per axis keeps the variance of the dense field.
    blur = gaussian_matrix(size, sigma)[:, ::spacing] * np.sqrt(spacing)
    bumps = np.einsum("ya,xb->abyx", blur, blur).reshape(-1, size * size)
    return np.vstack([ys.reshape(1, -1), xs.reshape(1, -1), np.ones((1, size * size)), bumps]
                     ).astype(np.float32)


def _neighbourhood(images, reduce):
    """Max (dilation) or min (erosion) over each pixel and its four neighbours."""
    out = images.copy()
    reduce(out[:, 1:], images[:, :-1], out=out[:, 1:])
    reduce(out[:, :-1], images[:, 1:], out=out[:, :-1])
    reduce(out[:, :, 1:], images[:, :, :-1], out=out[:, :, 1:])
    reduce(out[:, :, :-1], images[:, :, 1:], out=out[:, :, :-1])
    return out


def stroke_thickness(images, rng, config):
    """Thicken some strokes and thin others by a random fraction of a pixel."""
    n = len(images)
    choice = rng.random(n)
    amount = rng.random(n).astype(np.float32)[:, None, None]
    thick = choice < config.thicken
    thin = (choice >= config.thicken) & (choice < config.thicken + config.thin)
    if thick.any():
        grown = _neighbourhood(images[thick], np.maximum)
        images[thick] += amount[thick] * (grown - images[thick])
    if thin.any():
        shrunk = _neighbourhood(images[thin], np.minimum)
        images[thin] += amount[thin] * (shrunk - images[thin])
    return images


def random_maps(rng, n, size, config):
    """Source coordinates (ys, xs), each (n, size, size), of random affine + elastic maps."""
    angle = np.radians(rng.uniform(-config.rotation_degrees, config.rotation_degrees, n))
    scale = 1 + rng.uniform(-config.scale, config.scale, n)
    stretch = np.exp(rng.uniform(-config.aspect, config.aspect, n))
    shear = rng.uniform(-config.shear, config.shear, n)
    shift = rng.uniform(-config.shift, config.shift, (2, n))
    # The map sends output pixels to source pixels, so it is the inverse of
    # the visible transform: dividing by scale enlarges the digit.
    cos, sin = np.cos(angle), np.sin(angle)
    sy, sx = np.sqrt(stretch) / scale, 1 / (scale * np.sqrt(stretch))
    centre = (size - 1) / 2
    basis = coordinate_basis(size, config.elastic_sigma)
    coeffs = np.empty((2, n, len(basis)), dtype=np.float32)
    coeffs[0, :, :3] = np.stack([sy * cos, -sy * sin, centre + shift[0]], axis=1)
    coeffs[1, :, :3] = np.stack([sx * (sin + shear * cos), sx * (cos - shear * sin),
                                 centre + shift[1]], axis=1)
    elastic = rng.random((2, n, len(basis) - 3), dtype=np.float32)
    elastic -= np.float32(0.5)
    coeffs[:, :, 3:] = np.float32(2 * config.elastic_alpha) * elastic   # alpha * U(-1, 1)
    maps = coeffs.reshape(2 * n, -1) @ basis
    return maps.reshape(2, n, size, size)


def augment(images, rng, config=AugmentConfig(), labels=None, out=None):
    """A randomly distorted copy of ``images`` (n, 28, 28) float32 in [0, 1].

    With ``labels`` (n,), some 7s, 1s and 9s also get the strokes of
    ``model.styles``. ``out`` (n, 28, 28) float32, if given, receives the
    result: reusing one array across epochs spares the page faults of a fresh
    200 MB allocation each time.
    """
    images = np.asarray(images, dtype=np.float32)
    out = np.empty_like(images) if out is None else out
    # Cache-sized chunks: NumPy's elementwise loops run several times faster
    # on arrays that fit in cache than in one pass over the whole set.
    chunks = [slice(i, i + config.chunk) for i in range(0, len(images), config.chunk)]
    for part in chunks:
        src_y, src_x = random_maps(rng, len(images[part]), images.shape[1], config)
        out[part] = bilinear_sample(images[part], src_y, src_x)
    if labels is not None and config.styles is not None:
        # Styles touch one image in ten: blocks of many chunks keep their
        # per-call overhead small and their (k, segments, pixels) arrays in cache.
        block = 16 * config.chunk
        for i in range(0, len(out), block):
            add_styles(out[i:i + block], labels[i:i + block], rng, config.styles)
    for part in chunks:
        stroke_thickness(out[part], rng, config)
    return out
