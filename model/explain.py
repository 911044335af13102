"""Why the network read what it read: input gradients, attributions that add up, one unit's sums.

The maths behind the explain page, in the seed tutorial's notation: layer l
computes z = a·w + b and a' = σ(z); the input x (n, sizes[0]) is exactly the
vector the first layer multiplies, after ``model.inputs`` (deskewing, scaling).
Every gradient comes from the network's own backprop (``Network.forward``,
``forward_from_z``, ``backprop_hidden``, ``backprop_input``); there is no
autodiff library. ``model.dream`` builds the network's dreams on the same
gradient.

The score explained is the log-probability of a digit, S_d(x) = log p(d | x).
With a softmax output it is z_d − log Σ_k exp z_k. With the quadratic cost's
sigmoid output it is the log of the normalised output, log(a_d / Σ_k a_k), so
the explanation reads the probabilities a page would show for such a net.

Numbers are computed in float64 from the network's own weights (a float32
model is promoted with ``Network.astype``, ~0.05 ms): the attribution then
adds up to S_d(x) − S_d(blank) to < 1e-6 on drawings and a unit's
contributions add up to its z to rounding, whatever the served dtype. Those
float64 numbers agree with the float32 forward pass to float32 precision
(~1e-6). Computed in float32 instead, the sums would miss by up to ~1e-5 (on 50
MNIST digits × 10 explained digits), from rounding alone.
"""

import functools
from dataclasses import dataclass

import numpy as np

from .geometry import read_only

ATTRIBUTION_STEPS = 32    # Gauss-Legendre nodes: sums within 3e-7 on drawings, 3e-6 on noise


# -- checks --------------------------------------------------------------------

def _vectors(net, x, single=False):
    """``x`` as float64 rows (n, sizes[0]) and whether it came as one vector (sizes[0],)."""
    x = np.asarray(x, dtype=np.float64)
    one = x.ndim == 1
    if x.ndim not in ((1,) if single else (1, 2)) or x.shape[-1] != net.sizes[0]:
        wanted = f"({net.sizes[0]},)" if single else f"({net.sizes[0]},) or (n, {net.sizes[0]})"
        raise ValueError(f"expected an input of shape {wanted}, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("the input holds NaN or infinite values")
    return (x[None] if one else x), one


def _ink(X):
    """The inputs (k,) where the single row ``X`` (1, sizes[0]) is not zero: a drawing inks
    about a sixth of its 784 pixels, and only those rows of w_0 touch it."""
    return np.flatnonzero(X[0])


def _weighted_input(net, X):
    """x w_0 (sizes[1],) for the single row ``X`` from the rows of w_0 under its ink only."""
    ink = _ink(X)
    return X[0, ink] @ net.weights[0][ink]


def _input_shares(net, X, gradient):
    """x ⊙ (w_0 gradient) (sizes[0],): each input's share, for a gradient (sizes[1],) of the
    first layer's z, computed where there is ink (elsewhere x is 0, and so is its share)."""
    ink = _ink(X)
    shares = np.zeros(net.sizes[0])
    shares[ink] = X[0, ink] * (net.weights[0][ink] @ gradient)
    return shares


def _index(value, size, what):
    """``value`` as an int in [0, size), or a ValueError saying what it should have been."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if not 0 <= value < size:
        raise ValueError(f"{what} must be between 0 and {size - 1}, got {value}")
    return int(value)


def checked_digits(net, digit, n):
    """``digit`` (an int, or one per row) as an int array (n,), each checked against the output."""
    values = [digit] * n if np.ndim(digit) == 0 else list(digit)
    if len(values) != n:
        raise ValueError(f"expected one digit per input row ({n}), got {len(values)}")
    return np.array([_index(d, net.sizes[-1], "digit") for d in values], dtype=np.intp)


# -- the score and its gradient ------------------------------------------------

def _logits(net, activations):
    """The output layer's weighted input z_L (n, sizes[-1]), float64, from ``net.forward``'s list.

    ``forward`` keeps only the output's activation; z_L is recomputed from the
    last hidden layer, which is exact and costs one small product.
    """
    return activations[-2] @ net.weights[-1] + net.biases[-1]


def _score_and_error(net, z, digits):
    """S = log p(digit | x) (n,) and its output error dS/dz_L (n, sizes[-1]), from z_L (n, sizes[-1]).

    Softmax: S = z_d − logsumexp(z), dS/dz = e_d − p. Sigmoid output (quadratic
    cost): S = log σ(z_d) − log Σ σ(z_k), dS/dz_k = ([k = d] − a_k / Σ a) (1 − a_k).
    """
    rows = np.arange(len(z))
    delta = np.zeros_like(z)
    delta[rows, digits] = 1
    if net.cost == "cross_entropy":
        top = z.max(axis=1, keepdims=True)
        log_total = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
        delta -= np.exp(z - log_total[:, None])
        return z[rows, digits] - log_total, delta
    log_a = -np.logaddexp(0, -z)                      # log σ(z), stable for large |z|
    a = np.exp(log_a)
    total = a.sum(axis=1)
    delta = (delta - a / total[:, None]) * (1 - a)
    return log_a[rows, digits] - np.log(total), delta


def input_gradient(net, x, digit):
    """dS/dx for S = log p(digit | x): the same shape as ``x``, (sizes[0],) or (n, sizes[0]).

    ``digit`` is an int or one int per row. Float64, by the network's backprop.
    """
    X, one = _vectors(net, x)
    grad, _ = gradient_and_score(net.astype(np.float64), X, checked_digits(net, digit, len(X)))
    return grad[0] if one else grad


def gradient_and_score(net, X, digits):
    """(dS/dX (n, sizes[0]), S (n,)) for a float64 ``net``: one forward, one backward pass."""
    activations = net.forward(X)
    score, delta = _score_and_error(net, _logits(net, activations), digits)
    return net.backprop_input(activations, delta), score


# -- why this answer: integrated gradients from the blank input ---------------

@dataclass(frozen=True)
class Score:
    """log p(digit | x) on the drawing and on the blank (all-zero) input."""

    drawing: float
    blank: float


@dataclass(frozen=True)
class Attribution:
    """Each input's share (sizes[0],) of ``score.drawing − score.blank`` for ``digit``."""

    digit: int
    attribution: np.ndarray
    score: Score

    @property
    def gap(self):
        """How far Σ attribution misses score.drawing − score.blank (quadrature error)."""
        return float(self.attribution.sum() - (self.score.drawing - self.score.blank))


@functools.lru_cache(maxsize=16)
def gauss_legendre(steps):
    """Nodes t (steps,) in (0, 1) and weights (steps,) summing to 1 for ∫₀¹ f(t) dt (read-only)."""
    t, w = np.polynomial.legendre.leggauss(steps)
    return read_only((t + 1) / 2), read_only(w / 2)


def attribution(net, x, digit, steps=ATTRIBUTION_STEPS):
    """Integrated gradients of S = log p(digit | ·) along the straight path blank → ``x``.

    ``x`` is one input (sizes[0],); returns ``Attribution`` with
    attribution_i = x_i ∫₀¹ ∂S/∂x_i(t·x) dt, which sums to S(x) − S(0). The
    blank is the zero vector: a blank 28×28 canvas is all zeros, and
    ``model.inputs`` maps zeros to zeros (deskewing moves no ink; none is
    there). For a sigmoid net the integral is Gauss-Legendre with ``steps``
    nodes, all in one batched forward and backward pass together with x and
    the blank; the path is smooth, so at 32 nodes the sum is within 3e-7 on
    MNIST drawings and a few 1e-6 on noise or a page full of ink.
    A ReLU net's gradient jumps wherever a unit switches on along the path, so
    there the path is cut at those points (``_relu_pieces``) and integrated
    piece by piece, with ``steps`` nodes on each: within ~1e-14 (rounding).
    """
    X, _ = _vectors(net, x, single=True)
    digit = _index(digit, net.sizes[-1], "digit")
    if not 1 <= int(steps) <= 1000:
        raise ValueError(f"steps must be between 1 and 1000, got {steps}")
    net = net.astype(np.float64)
    if net.activation == "relu":
        return _relu_attribution(net, X, digit, int(steps))
    t, weights = gauss_legendre(int(steps))
    activations = _along(net, X, np.concatenate([t, [1.0, 0.0]]))
    score, delta = _score_and_error(net, _logits(net, activations), digit)
    error = net.backprop_hidden(activations, delta)
    # Σ_k weight_k (error_k w_0ᵀ) = (Σ_k weight_k error_k) w_0ᵀ: one product, not one per node.
    shares = _input_shares(net, X, weights @ error[:-2])
    return Attribution(digit, shares, Score(float(score[-2]), float(score[-1])))


def _along(net, X, t):
    """``forward``'s list at the points t·X (t (k,), X (1, sizes[0])) of the path from blank."""
    return net.forward_from_z(t[:, None] * _weighted_input(net, X) + net.biases[0])


def _relu_pieces(net, X):
    """Knots t (k,) from 0 to 1 between which no hidden ReLU unit switches along t·X.

    On such a piece every layer is affine in t. Layer 1's z = t·(X w) + b is
    affine on the whole path, so its units switch at t = −b / (X w); each
    higher layer's z is then affine between the knots found so far, and its
    zero crossings are found by linear interpolation between them.
    """
    slope = _weighted_input(net, X)
    with np.errstate(divide="ignore", invalid="ignore"):
        switch = -net.biases[0] / slope
    knots = np.union1d([0.0, 1.0], switch[(switch > 0) & (switch < 1)])
    for l in range(1, len(net.weights) - 1):
        z = _along(net, X, knots)[l] @ net.weights[l] + net.biases[l]
        before, after = z[:-1], z[1:]
        crossing = before * after < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            at = knots[:-1, None] + np.diff(knots)[:, None] * before / (before - after)
        knots = np.union1d(knots, at[crossing])
    return knots


def _relu_attribution(net, X, digit, steps):
    """``attribution`` for a float64 ReLU net, exact piece by piece (see ``_relu_pieces``).

    On piece s the input gradient is J_s (e_d − p(t)) with J_s fixed, so
    ∫ ∂S/∂x dt = Σ_s J_s ∫_s dS/dz_L dt: the output error is integrated over
    each piece from the logits, which are affine there (interpolated between
    the piece's ends), and one backward pass from each piece's midpoint
    applies J_s to it.
    """
    knots = _relu_pieces(net, X)
    z = _logits(net, _along(net, X, knots))
    t, weights = gauss_legendre(steps)
    on_piece = z[:-1, None] + t[None, :, None] * (z[1:] - z[:-1])[:, None]     # (s, steps, k)
    _, errors = _score_and_error(net, on_piece.reshape(-1, z.shape[1]), digit)
    error = np.diff(knots)[:, None] * np.einsum("j,sjk->sk", weights,
                                                errors.reshape(on_piece.shape))
    middles = (knots[:-1] + knots[1:]) / 2
    hidden = net.backprop_hidden(_along(net, X, middles), error).sum(axis=0)
    score, _ = _score_and_error(net, z[[-1, 0]], digit)
    return Attribution(digit, _input_shares(net, X, hidden),
                       Score(float(score[0]), float(score[1])))


# -- the arithmetic of one hidden unit ----------------------------------------

@dataclass(frozen=True)
class UnitArithmetic:
    """One first-hidden-layer unit's sums on one input, and the chain on to the softmax.

    ``contributions`` (sizes[0],) are w_j ⊙ x, and z = Σ contributions + bias;
    ``activation`` = σ(z) (or max(z, 0)); ``votes`` (sizes[2],) = the unit's
    outgoing weights × its activation, its addition to the next layer's z.
    With one hidden layer that next layer is the output, whose weighted input
    ``output_z`` (sizes[-1],) is Σ over all units' votes + the output biases,
    and ``probabilities`` its softmax (sigmoid, for the quadratic cost). With
    more hidden layers the votes go to the second hidden layer.
    """

    unit: int
    contributions: np.ndarray
    bias: float
    z: float
    activation: float
    votes: np.ndarray
    output_z: np.ndarray
    probabilities: np.ndarray

    def largest(self, k=5):
        """Indices (k,) of the k contributions largest in size, largest first."""
        order = np.argsort(-np.abs(self.contributions), kind="stable")
        return order[:k]


def unit_arithmetic(net, x, unit):
    """``UnitArithmetic`` of first-hidden-layer ``unit`` on one input ``x`` (sizes[0],), float64."""
    if len(net.sizes) < 3:
        raise ValueError("the network has no hidden layer")
    X, _ = _vectors(net, x, single=True)
    unit = _index(unit, net.sizes[1], "unit")
    net = net.astype(np.float64)
    activations = _along(net, X, np.ones(1))        # the forward pass at x itself (t = 1)
    contributions = net.weights[0][:, unit] * X[0]
    bias = float(net.biases[0][unit])
    z = float(contributions.sum() + bias)
    activation = float(activations[1][0, unit])
    output_z = _logits(net, activations)[0]
    return UnitArithmetic(unit, contributions, bias, z, activation,
                          net.weights[1][unit] * activation, output_z, activations[-1][0])


def strongest_unit(net, x):
    """The first-hidden-layer unit with the largest activation a_1 on ``x`` (sizes[0],).

    The largest activation rather than the largest vote: it is what the page's
    activation bars already point at, and it needs no digit to be chosen.
    """
    if len(net.sizes) < 3:
        raise ValueError("the network has no hidden layer")
    X, _ = _vectors(net, x, single=True)
    return int(np.argmax(net.forward(X)[1][0]))
