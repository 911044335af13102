"""The network: exact gradients, the SGD step's arithmetic, and that it learns digits."""

from pathlib import Path

import numpy as np
import pytest

from model import mnist, prepare
from model.network import Network

FIXTURES = Path(__file__).parent / "fixtures"


def random_batch(net, n=7, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.random((n, net.sizes[0]))
    Y = np.eye(net.sizes[-1])[rng.integers(0, net.sizes[-1], n)]
    return X, Y


def numerical_gradient(net, X, Y, param, step=1e-6):
    """Central differences of ``net.loss`` with respect to every entry of ``param``."""
    grad = np.zeros_like(param)
    for i in np.ndindex(param.shape):
        saved = param[i]
        param[i] = saved + step
        up = net.loss(X, Y)
        param[i] = saved - step
        down = net.loss(X, Y)
        param[i] = saved
        grad[i] = (up - down) / (2 * step)
    return grad


@pytest.mark.parametrize("sizes, activation, cost", [
    ([6, 5, 4], "sigmoid", "cross_entropy"),
    ([6, 5, 4], "relu", "cross_entropy"),
    ([6, 5, 4, 3], "sigmoid", "cross_entropy"),
    ([6, 5, 4, 3], "relu", "cross_entropy"),
    ([6, 5, 4], "sigmoid", "quadratic"),
])
def test_backprop_matches_finite_differences(sizes, activation, cost):
    net = Network(sizes, activation=activation, cost=cost, dtype=np.float64, seed=2)
    # Non-zero biases, so their gradients are tested away from the symmetric start.
    rng = np.random.default_rng(3)
    net.biases = [rng.standard_normal(b.shape) * 0.5 for b in net.biases]
    X, Y = random_batch(net)
    nabla_b, nabla_w = net.backprop(X, Y)
    for analytic, param in zip(nabla_w + nabla_b, net.weights + net.biases):
        numeric = numerical_gradient(net, X, Y, param)
        error = np.linalg.norm(analytic - numeric) / np.linalg.norm(analytic + numeric)
        assert error < 1e-6


def test_backprop_returns_fresh_arrays_after_training_steps():
    net = Network([6, 5, 4], seed=0)
    X, Y = random_batch(net)
    nabla_b, nabla_w = net.backprop(X, Y)
    kept = [g.copy() for g in nabla_b + nabla_w]
    net.update_mini_batch(X, Y, 0.0)
    assert all(np.array_equal(g, k) for g, k in zip(nabla_b + nabla_w, kept))


def reference_step(net, X, Y, eta, momentum, weight_decay, velocities):
    """Textbook float64 SGD with momentum and L2 on weights, written out per layer."""
    a0 = X
    a1 = 1 / (1 + np.exp(-(a0 @ net.weights[0] + net.biases[0])))
    z2 = a1 @ net.weights[1] + net.biases[1]
    a2 = np.exp(z2 - z2.max(axis=1, keepdims=True))
    a2 /= a2.sum(axis=1, keepdims=True)
    delta2 = (a2 - Y) / len(X)
    delta1 = delta2 @ net.weights[1].T * a1 * (1 - a1)
    grads = [a0.T @ delta1, a1.T @ delta2, delta1.sum(axis=0), delta2.sum(axis=0)]
    params = net.weights + net.biases
    new_params, new_velocities = [], []
    for l, (p, g, v) in enumerate(zip(params, grads, velocities)):
        decay = weight_decay * p if l < len(net.weights) else 0.0
        v = momentum * v - eta * (g + decay)
        new_velocities.append(v)
        new_params.append(p + v)
    return new_params, new_velocities


def test_update_mini_batch_matches_a_hand_computed_step():
    net = Network([6, 5, 4], dtype=np.float64, seed=4)
    eta, momentum, weight_decay = 0.3, 0.9, 0.01
    velocities = [np.zeros_like(p) for p in net.weights + net.biases]
    # Three steps, so the velocity carries over; the short middle batch reuses
    # the first step's arrays.
    for seed, n in enumerate((7, 3, 7)):
        X, Y = random_batch(net, n, seed)
        expected, velocities = reference_step(net, X, Y, eta, momentum, weight_decay,
                                              [v.copy() for v in velocities])
        net.update_mini_batch(X, Y, eta, momentum, weight_decay)
        for got, want in zip(net.weights + net.biases, expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_steps_keep_the_networks_dtype(dtype):
    net = Network([6, 5, 4], dtype=dtype)
    X, Y = random_batch(net)
    for n in (7, 3, 7):  # a short last batch reuses the same arrays
        net.update_mini_batch(X[:n], Y[:n], 0.1, momentum=0.9, weight_decay=1e-4)
    for array in net.weights + net.biases + net.velocities:
        assert array.dtype == dtype
    assert net.feedforward(X).dtype == dtype


def test_update_mini_batch_rejects_mismatched_targets():
    net = Network([6, 5, 4])
    X, Y = random_batch(net)
    with pytest.raises(ValueError, match="targets"):
        net.update_mini_batch(X, Y[:-1], 0.1)


def test_a_small_network_learns_digits():
    read = lambda name: mnist.read_idx(FIXTURES / name)  # noqa: E731
    X = prepare(read("train-1000-images-idx3-ubyte.gz"), use_deskew=False)
    Y = mnist.one_hot(read("train-1000-labels-idx1-ubyte.gz"))
    X_test = prepare(read("t10k-500-images-idx3-ubyte.gz"), use_deskew=False)
    test_labels = read("t10k-500-labels-idx1-ubyte.gz")
    net = Network([784, 64, 10], seed=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        order = rng.permutation(len(X))
        for i in range(0, len(X), 32):
            idx = order[i:i + 32]
            net.update_mini_batch(X[idx], Y[idx], 0.3, momentum=0.9, weight_decay=5e-5)
    assert net.count_correct(X_test, test_labels) / len(test_labels) > 0.85
