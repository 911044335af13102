"""What the network dreams: for each digit, the input it reads most surely as that digit.

Gradient ascent on the input, by the network's own backprop (the gradient of
log p(digit | x) from ``model.explain``), with an ink prior and a smoothness
prior (total variation) so the dream looks like a few strokes rather than
noise, and values kept in [0, 1] by projection (clipping). Images are rows
(n, side²) of a square picture, as the network's inputs are (28² = 784).
"""

from dataclasses import dataclass

import numpy as np

from .explain import checked_digits, gradient_and_score
from .geometry import inputs

DREAM = dict(steps=200, rate=0.1, ink=0.001, smoothness=0.01, every=5, target=0.97)
START = 0.3   # the faint random scribble (0..START) a dream starts from; the seed picks it
POLISH = 1.0  # the polishing steps' size, as a fraction of ``rate``


@dataclass(frozen=True)
class Dream:
    """The input (sizes[0],) in [0, 1] the ascent found for ``digit``, and how it is read.

    ``probabilities`` (sizes[-1],) are the network's reading of ``image`` as its
    input; ``objective`` is ``dream_objective``'s value there.
    """

    digit: int
    image: np.ndarray
    probabilities: np.ndarray
    objective: float


def total_variation(images, side, epsilon=0.05):
    """Smoothed total variation (n,) of images (n, side²) and its gradient (n, side²).

    Σ over neighbouring pixels (zero outside the picture) of √(Δ² + ε²) − ε:
    small for a few solid strokes, large for speckle.
    """
    grid = np.pad(images.reshape(-1, side, side), ((0, 0), (1, 1), (1, 1)))
    value = np.zeros(len(images))
    grad = np.zeros_like(grid)
    for axis in (1, 2):
        step = np.diff(grid, axis=axis)
        size = np.sqrt(step * step + epsilon * epsilon)
        value += (size - epsilon).sum(axis=(1, 2))
        slope = step / size
        lower, upper = [slice(None)] * 3, [slice(None)] * 3
        lower[axis], upper[axis] = slice(None, -1), slice(1, None)
        grad[tuple(upper)] += slope
        grad[tuple(lower)] -= slope
    return value, grad[:, 1:-1, 1:-1].reshape(len(images), -1)


def dream_objective(net, x, digits, ink=DREAM["ink"], smoothness=DREAM["smoothness"]):
    """J(x) (n,) and dJ/dx (n, sizes[0]) for images x (n, sizes[0]) in [0, 1].

    J = log p(digit | x) − ink·Σ x − smoothness·TV(x): the reading, less the ink
    used (so the background stays empty) and the speckle (so the ink forms
    strokes). ``net`` must be float64.
    """
    side = int(round(np.sqrt(net.sizes[0])))
    grad, score = gradient_and_score(net, x, digits)
    tv, tv_grad = total_variation(x, side)
    return score - ink * x.sum(axis=1) - smoothness * tv, grad - ink - smoothness * tv_grad


def blur(images, side):
    """Images (n, side²) smoothed by the 3×3 binomial kernel [1 2 1]ᵀ[1 2 1]/16, zero outside."""
    grid = np.pad(images.reshape(-1, side, side), ((0, 0), (1, 1), (1, 1)))
    grid = 0.25 * grid[:, :-2] + 0.5 * grid[:, 1:-1] + 0.25 * grid[:, 2:]
    grid = 0.25 * grid[:, :, :-2] + 0.5 * grid[:, :, 1:-1] + 0.25 * grid[:, :, 2:]
    return grid.reshape(len(images), -1)


def dream(net, digit, seed=0, **settings):
    """``Dream`` of ``digit``; ``settings`` as for ``dreams``, which does many digits at once."""
    return dreams(net, [digit], seed, **settings)[0]


def dreams(net, digits=None, seed=0, steps=DREAM["steps"], rate=DREAM["rate"],
           ink=DREAM["ink"], smoothness=DREAM["smoothness"], every=DREAM["every"],
           target=DREAM["target"]):
    """A ``Dream`` per digit (default every output), ascended together in one batch.

    Projected gradient ascent on ``dream_objective`` from a faint random start
    picked by ``seed``: each step moves x by ``rate`` (decaying linearly to 0)
    along dJ/dx scaled to unit RMS, then clips x to [0, 1]. Every ``every``
    steps the images are blurred and, for a net that deskews, passed through
    ``model.inputs``, so the dream is a picture the network's own
    preprocessing leaves (nearly) alone. A dream read below ``target`` (on
    itself or preprocessed again) then gets up to ``steps`` plain ascent
    steps (no priors, no blur, deskewed every ``every``) until it is not;
    ``Dream.probabilities`` says how it is read in the end. The same seed
    gives the same dreams; the ascent washes the start out, so other seeds
    change a pixel by at most ~3e-3 on the shipped model. Inputs must be a
    square picture.
    """
    side = int(round(np.sqrt(net.sizes[0])))
    if side * side != net.sizes[0]:
        raise ValueError(f"dreams need a square input picture; the input has {net.sizes[0]} values")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if digits is None:
        digits = range(net.sizes[-1])
    digits = checked_digits(net, digits, len(digits))
    served, net = net, net.astype(np.float64)
    x = START * np.random.default_rng(seed).random((len(digits), net.sizes[0]))
    rows = np.arange(len(digits))

    def ascend(x, step, ink, smoothness):
        _, grad = dream_objective(net, x, digits, ink, smoothness)
        grad /= np.sqrt((grad * grad).mean(axis=1, keepdims=True)) + 1e-12
        return np.clip(x + step * grad, 0, 1)

    def preprocess(x):
        return inputs(served, x.reshape(-1, side, side)).astype(np.float64)

    def reading(x):
        """p(digit) (n,): the lower of the reading of x and of x preprocessed again."""
        p = net.feedforward(x)[rows, digits]
        return np.minimum(p, net.feedforward(preprocess(x))[rows, digits]) if served.deskew else p

    for k in range(int(steps)):
        x = ascend(x, rate * (1 - k / steps), ink, smoothness)
        if (k + 1) % every == 0:
            x = blur(x, side)
            if served.deskew:
                x = preprocess(x)
    for k in range(int(steps)):
        short = reading(x) < target
        if not short.any():
            break
        moved = ascend(x, POLISH * rate, 0.0, 0.0)
        if served.deskew and (k + 1) % every == 0:
            moved = preprocess(moved)
        x[short] = moved[short]
    value, _ = dream_objective(net, x, digits, ink, smoothness)
    return [Dream(int(d), image, p, float(v))
            for d, image, p, v in zip(digits, x, net.feedforward(x), value)]
