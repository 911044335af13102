"""Pen handwriting for training and for the held-out evaluation, read as the page reads it.

Two sources, both painted with the canvas's pen (``model.canvas``) and read by
``reading.normalise`` exactly as a drawing sent to the page is (through
``drawings.read_painting``):

- ``pen_drawings``: ``model.pen``'s writers, the kinds real pens make that
  MNIST and the tidy forms miss (tiny-headed 9s, arched and barred 7s, one-
  stroke and looped 4s) and the other forms in the same hands. Training
  draws from ``pen.TRAINING_WRITERS``; ``bench/handwriting.py`` evaluates on
  ``pen.EVALUATION_WRITERS``, hands training never saw.
- ``redrawn_mnist``: MNIST training digits re-drawn as pen strokes
  (``model.redraw``), MNIST's writers with the canvas's pen. A re-drawing
  that no longer looks like its original (a thick digit whose loop filled
  in and thinned to a line) is left out.

Results are cached like ``drawings.drawings`` (keyed by the arguments and the code).
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from model import canvas, mnist, pen, redraw

from . import drawings

TRAINING_SEED = 1
SIMILAR = 0.55        # a re-drawing must correlate this well with its MNIST original


def _cached(name, args, make, modules):
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    key = json.dumps({"name": name, **args, "code": digest.hexdigest()[:16]}, sort_keys=True)
    path = drawings.cache_dir() / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as saved:
            return tuple(saved[k] for k in ("images", "labels", "names"))
    result = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, images=result[0], labels=result[1], names=result[2])
    os.replace(tmp, path)
    return result


def _read(strokes_):
    return drawings.read_painting(canvas.render(strokes_))


def pen_drawings(n, writers=pen.TRAINING_WRITERS, seed=TRAINING_SEED, anywhere=None):
    """``n`` drawings by ``model.pen`` writers: images (n, 28, 28) float32 (undeskewed),
    labels (n,) int64, kinds (n,).

    ``writers`` is a range of writer seeds (training: the first n // 10 of
    ``pen.TRAINING_WRITERS``, each drawing every digit once); ``anywhere``
    None alternates centred and anywhere, True/False forces one.
    """
    hands = range(writers.start, writers.start + max(min(len(writers), (n + 9) // 10), 1))

    def make():
        rng = np.random.default_rng([seed, 18])
        images = np.empty((n, 28, 28), dtype=np.float32)
        labels, kinds = np.empty(n, dtype=np.int64), []
        for i, (w, kind, digit, far) in enumerate(pen.plan(n, hands, seed)):
            far = far if anywhere is None else anywhere
            digit_image = _read(pen.sample(kind, w, rng, anywhere=far))
            while digit_image.image is None:
                digit_image = _read(pen.sample(kind, w, rng, anywhere=far))
            images[i], labels[i] = digit_image.image, digit
            kinds.append(kind)
        return images, labels, np.array(kinds)

    return _cached("pen", {"n": n, "writers": [hands.start, hands.stop], "seed": seed,
                           "anywhere": anywhere}, make, drawings.CODE + (pen,))


def redrawn_mnist(data, n, seed=TRAINING_SEED):
    """``n`` MNIST training digits (not the validation ones) re-drawn with the canvas's pen:
    images (k, 28, 28) float32, labels (k,), "redrawn" names; k ≤ n (dissimilar ones dropped)."""
    train_images, train_labels, _, _ = mnist.split_validation(
        data["train_images"], data["train_labels"], mnist.VALIDATION_SIZE)

    def make():
        rng = np.random.default_rng([seed, 19])
        chosen = rng.choice(len(train_images), size=min(n, len(train_images)), replace=False)
        originals = train_images[chosen].astype(np.float32) / 255
        skeletons = redraw.skeleton(originals)
        images, labels = [], []
        for original, mask, label in zip(originals, skeletons, train_labels[chosen]):
            lines = redraw.strokes_of(original, rng, skeletons=mask)
            digit = _read(lines) if lines else None
            if digit is None or digit.image is None:
                continue
            if np.corrcoef(digit.image.ravel(), original.ravel())[0, 1] < SIMILAR:
                continue
            images.append(digit.image)
            labels.append(label)
        return (np.array(images, dtype=np.float32).reshape(-1, 28, 28),
                np.array(labels, dtype=np.int64), np.array(["redrawn"] * len(labels)))

    return _cached("redrawn", {"n": n, "seed": seed, "data": data["sha256"]}, make,
                   drawings.CODE + (redraw,))
