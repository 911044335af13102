"""Float64 networks and central differences, for checking gradients against the network's own
forward pass (test_explain, test_dream)."""

import numpy as np

from model.network import Network


def float64_net(sizes, activation="sigmoid", cost="cross_entropy", gain=1.0, seed=2):
    """A float64 network with non-zero biases, weights scaled by ``gain`` (larger: more kinks)."""
    net = Network(sizes, activation=activation, cost=cost, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed + 1)
    net.weights = [w * gain for w in net.weights]
    net.biases = [rng.standard_normal(b.shape) * 0.5 for b in net.biases]
    return net


def central_differences(f, X, step=1e-6):
    """d f / d X (n, m) for f mapping X (n, m) to (n,), one entry at a time."""
    grad = np.zeros_like(X)
    for j in range(X.shape[1]):
        up, down = X.copy(), X.copy()
        up[:, j] += step
        down[:, j] -= step
        grad[:, j] = (f(up) - f(down)) / (2 * step)
    return grad


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(a + b)
