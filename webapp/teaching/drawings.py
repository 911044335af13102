"""Generated drawings of the world's digit forms, read through the draw page's own reading.

``model.strokes`` samples pen strokes and ``model.canvas`` paints them as the
page's canvas does; this module sends each painting through ``reading.decode``
and ``reading.normalise`` exactly as an upload is read (greyscale and shrink,
then normalise), skipping only the lossless PNG round trip
(``tests/test_forms.py`` checks the two agree). It lives in ``webapp/``
because it needs that reading; training (``digits train --forms N``), the
browser tests, the corrections experiment and ``bench/forms.py`` all take
their drawings from ``drawings``. Results are cached as ``.npz`` under
``$DIGITS_CACHE_DIR/forms`` (default ``~/.cache/digits/forms``), keyed by the
arguments and by the source of the code that made them.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from model import canvas, mnist, strokes

from ..config import Config
from ..reading import decode, normalise

TRAINING_SEED = 1     # drawings for training; the evaluations use other seeds (bench/forms.py)
CODE = (strokes, canvas, decode, normalise)   # the modules whose source keys the cache


def cache_dir():
    """Where generated drawings are kept: ``$DIGITS_CACHE_DIR/forms`` or ``~/.cache/digits/forms``."""
    root = Config.value("CACHE_DIR") or Path.home() / ".cache" / "digits"
    return Path(root) / "forms"


def read_painting(luminance):
    """A painted canvas (h, w) uint8 luminance → ``normalise.Digit``, as if uploaded as PNG."""
    return normalise.normalise(decode.pixel_luminance(luminance))


def _source_digest():
    """A digest of the code that makes drawings: a change to any of it invalidates the cache."""
    digest = hashlib.sha256()
    for module in CODE:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def plan(n, seed, traditions=None, exclude=(), shared=True):
    """Which form each of ``n`` drawings shows: a list of ``n`` ``strokes.Form``.

    The digits that have a form among ``strokes.select(traditions, exclude,
    shared)`` take turns (0, 1, ..., 9, 0, ...), so classes are balanced; each
    drawing is one of its digit's forms at random. Raises ``ValueError`` if
    no form is left.
    """
    forms = strokes.select(traditions, exclude, shared)
    per_digit = [fs for fs in ([f for f in forms if f.digit == d] for d in range(10)) if fs]
    if not per_digit:
        raise ValueError(f"no forms in traditions={traditions} exclude={list(exclude)} "
                         f"shared={shared}")
    rng = np.random.default_rng([seed, 1])
    chosen = (per_digit[i % len(per_digit)] for i in range(n))
    return [fs[rng.integers(len(fs))] for fs in chosen]


def generate(n, seed, traditions=None, exclude=(), shared=True, variation=strokes.Variation()):
    """``n`` fresh drawings: images (n, 28, 28) float32 in [0, 1], labels (n,), form names (n,).

    Images are the web app's reading before deskewing (``Digit.image``). A
    sample that reads as blank (it cannot at these sizes, but the page allows
    it) is drawn again.
    """
    chosen = plan(n, seed, traditions, exclude, shared)
    rng = np.random.default_rng([seed, 2])
    images = np.empty((n, 28, 28), dtype=np.float32)
    for i, form in enumerate(chosen):
        digit = read_painting(canvas.render(strokes.sample(form, rng, variation)))
        while digit.image is None:
            digit = read_painting(canvas.render(strokes.sample(form, rng, variation)))
        images[i] = digit.image
    labels = np.array([f.digit for f in chosen], dtype=np.int64)
    return images, labels, np.array([f.name for f in chosen])


def drawings(n, seed, traditions=None, exclude=(), shared=True, cache=True):
    """``generate``'s result, from the cache when the same drawings were made before.

    Returns images (n, 28, 28) float32 in [0, 1] (undeskewed), labels (n,)
    int64 and form names (n,); see ``plan`` for which forms are drawn.
    """
    key = json.dumps({"n": n, "seed": seed, "traditions": sorted(traditions) if traditions
                      else None, "exclude": sorted(exclude), "shared": shared,
                      "code": _source_digest()},
                     sort_keys=True)
    path = cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if cache and path.exists():
        with np.load(path, allow_pickle=False) as saved:
            return saved["images"], saved["labels"], saved["names"]
    images, labels, names = generate(n, seed, traditions, exclude, shared)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, images=images, labels=labels, names=names, key=np.array(key))
        os.replace(tmp, path)
    return images, labels, names


def training_set(n, exclude=()):
    """``n`` drawings for training (``TRAINING_SEED``) without the traditions in ``exclude``:
    ``((images, labels), recipe)``, the recipe being what a checkpoint records of them."""
    images, labels, _ = drawings(n, TRAINING_SEED, exclude=exclude)
    recipe = {"data": f"MNIST training set (last {mnist.VALIDATION_SIZE:,} for validation) + "
                      "generated drawings",
              "forms": {"drawings": n, "seed": TRAINING_SEED, "traditions": "all",
                        "exclude": sorted(exclude),
                        "generator": "model.strokes + model.canvas, read by webapp.reading "
                                     "(webapp.teaching.drawings)"}}
    return (images, labels), recipe
