"""Explaining a reading: input gradients, attributions that add up, a unit's sums.

Gradients are checked against central differences of the network's own
``feedforward`` (float64 networks), the way ``test_network`` checks backprop.
"""

from pathlib import Path

import numpy as np
import pytest

import model
from model import explain, mnist
from model.network import Network
from tests.gradients import central_differences, float64_net, relative_error

FIXTURES = Path(__file__).parent / "fixtures"
ARCHITECTURES = [
    ([6, 5, 4], "sigmoid", "cross_entropy"),
    ([6, 5, 4], "relu", "cross_entropy"),
    ([6, 5, 4, 3], "sigmoid", "cross_entropy"),
    ([6, 5, 4, 3], "relu", "cross_entropy"),
    ([6, 5, 4], "sigmoid", "quadratic"),
]


@pytest.fixture(scope="module")
def drawings(shipped_net):
    """Ten MNIST test digits as the shipped_net network's inputs (10, 784), and their labels."""
    images = mnist.read_idx(FIXTURES / "t10k-500-images-idx3-ubyte.gz")[:10]
    labels = mnist.read_idx(FIXTURES / "t10k-500-labels-idx1-ubyte.gz")[:10]
    return model.inputs(shipped_net, images), labels


def log_probability(net, X, digit):
    """log of the network's own (normalised) output for ``digit``, per row of X (n,)."""
    out = net.feedforward(X)
    return np.log(out[:, digit] / out.sum(axis=1))


# -- input_gradient --------------------------------------------------------------

@pytest.mark.parametrize("sizes, activation, cost", ARCHITECTURES)
def test_input_gradient_matches_finite_differences(sizes, activation, cost):
    net = float64_net(sizes, activation, cost)
    X = np.random.default_rng(4).random((5, sizes[0]))
    digits = [0, 1, 2, 3, 0][:5] if sizes[-1] > 3 else [0, 1, 2, 0, 1]
    analytic = explain.input_gradient(net, X, digits)
    for row, digit in enumerate(digits):
        numeric = central_differences(lambda Z: log_probability(net, Z, digit), X[row:row + 1])
        assert relative_error(analytic[row], numeric[0]) < 1e-6


def test_input_gradient_of_one_vector_keeps_its_shape(shipped_net, drawings):
    X, labels = drawings
    one = explain.input_gradient(shipped_net, X[0], 7)
    assert one.shape == (784,)
    np.testing.assert_allclose(one, explain.input_gradient(shipped_net, X, 7)[0], atol=1e-12)


# -- attribution -----------------------------------------------------------------

def test_a_blank_canvas_is_the_zero_input():
    for deskew in (True, False):
        net = Network([784, 4, 10], deskew=deskew)
        for blank in (np.zeros((1, 28, 28)), np.zeros((1, 28, 28), dtype=np.uint8)):
            assert not model.inputs(net, blank).any()


def test_attributions_add_up_on_the_shipped_model_for_every_digit(shipped_net, drawings):
    X, labels = drawings
    exact = shipped_net.astype(np.float64)
    blank = log_probability(exact, np.zeros((1, 784)), slice(None))[0]
    for x, label in zip(X, labels):
        drawing = log_probability(exact, x[None], slice(None))[0]
        for digit in range(10):
            result = explain.attribution(shipped_net, x, digit)
            assert result.attribution.shape == (784,)
            assert result.score.drawing == pytest.approx(drawing[digit], abs=1e-9)
            assert result.score.blank == pytest.approx(blank[digit], abs=1e-9)
            assert abs(result.attribution.sum() - (drawing[digit] - blank[digit])) < 1e-6
        # The float64 scores agree with the float32 network's own reading.
        assert np.exp(explain.attribution(shipped_net, x, label).score.drawing) == pytest.approx(
            float(shipped_net.feedforward(x)[0, label]), abs=1e-5)


@pytest.mark.parametrize("sizes, activation, cost", ARCHITECTURES + [
    ([784, 64, 10], "relu", "cross_entropy"), ([784, 48, 24, 10], "relu", "cross_entropy")])
def test_attributions_add_up_for_every_architecture(sizes, activation, cost, drawings):
    # Large weights: many ReLU units switch along the path, and sigmoids saturate.
    net = float64_net(sizes, activation, cost, gain=3.0)
    rng = np.random.default_rng(5)
    X = drawings[0][:3] if sizes[0] == 784 else rng.random((3, sizes[0]))
    for x in X:
        result = explain.attribution(net, x, 1)
        expected = np.diff(log_probability(net, np.stack([np.zeros_like(x), x]), 1))[0]
        assert abs(result.attribution.sum() - expected) < 1e-9
        assert abs(result.gap) < 1e-9


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_each_pixels_share_is_its_integrated_gradient(activation):
    """Against a midpoint sum of input_gradient along the path, per input.

    The midpoint rule's error is O(1/n²) on a smooth path but O(1/n) where
    ReLU units switch, so the ReLU reference takes many more points.
    """
    net = float64_net([12, 8, 5, 4], activation, gain=2.0)
    x = np.random.default_rng(6).random(12)
    n = 4000 if activation == "sigmoid" else 400_000
    t = (np.arange(n) + 0.5) / n
    reference = x * explain.input_gradient(net, t[:, None] * x, 2).mean(axis=0)
    np.testing.assert_allclose(explain.attribution(net, x, 2).attribution, reference, atol=1e-5)


# -- unit_arithmetic -------------------------------------------------------------

def test_unit_arithmetic_is_the_networks_own_forward_pass(shipped_net, drawings):
    X, labels = drawings
    x = X[0]
    activations = shipped_net.forward(x)
    z_own = x @ shipped_net.weights[0] + shipped_net.biases[0]        # float32, as the network computes
    votes = []
    for unit in range(shipped_net.sizes[1]):
        sums = explain.unit_arithmetic(shipped_net, x, unit)
        assert sums.contributions.shape == (784,) and sums.votes.shape == (10,)
        assert sums.contributions.sum() + sums.bias == pytest.approx(sums.z, abs=1e-12)
        assert sums.bias == shipped_net.biases[0][unit]
        assert sums.z == pytest.approx(float(z_own[unit]), abs=1e-5)
        assert sums.activation == pytest.approx(1 / (1 + np.exp(-sums.z)), abs=1e-12)
        assert sums.activation == pytest.approx(float(activations[1][0, unit]), abs=1e-6)
        np.testing.assert_allclose(sums.votes, shipped_net.weights[1][unit] * sums.activation,
                                   rtol=1e-6)      # float32 weights: to their precision
        votes.append(sums.votes)
    output_z = np.sum(votes, axis=0) + shipped_net.biases[1]
    np.testing.assert_allclose(sums.output_z, output_z, atol=1e-10)
    softmax = np.exp(output_z - output_z.max())
    np.testing.assert_allclose(sums.probabilities, softmax / softmax.sum(), atol=1e-12)
    np.testing.assert_allclose(sums.probabilities, activations[-1][0], atol=1e-6)
    assert sums.probabilities.argmax() == labels[0]


def test_a_deeper_networks_votes_go_to_the_next_hidden_layer():
    net = float64_net([784, 16, 8, 10], "relu")
    x = np.random.default_rng(7).random(784)
    activations = net.forward(x)
    z2 = sum(explain.unit_arithmetic(net, x, j).votes for j in range(16)) + net.biases[1]
    np.testing.assert_allclose(np.maximum(z2, 0), activations[2][0], atol=1e-12)
    sums = explain.unit_arithmetic(net, x, 3)
    assert sums.votes.shape == (8,)
    assert sums.activation == pytest.approx(max(sums.z, 0.0), abs=1e-12)
    np.testing.assert_allclose(sums.probabilities, activations[-1][0], atol=1e-12)


def test_the_strongest_unit_and_the_largest_contributions(shipped_net, drawings):
    x = drawings[0][1]
    strongest = explain.strongest_unit(shipped_net, x)
    assert strongest == int(shipped_net.forward(x)[1][0].argmax())
    sums = explain.unit_arithmetic(shipped_net, x, strongest)
    top = sums.largest(5)
    assert len(top) == 5
    sizes = np.abs(sums.contributions)
    assert list(sizes[top]) == sorted(sizes, reverse=True)[:5]


# -- bad input -------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda net: explain.input_gradient(net, np.zeros(783), 1), r"shape \(784,\)"),
    (lambda net: explain.input_gradient(net, np.zeros((2, 2, 784)), 1), "shape"),
    (lambda net: explain.input_gradient(net, np.zeros((2, 784)), [1]), "one digit per input row"),
    (lambda net: explain.input_gradient(net, np.full(784, np.nan), 1), "NaN"),
    (lambda net: explain.attribution(net, np.zeros((2, 784)), 1), r"shape \(784,\)"),
    (lambda net: explain.attribution(net, np.zeros(784), 10), "digit must be between 0 and 9"),
    (lambda net: explain.attribution(net, np.zeros(784), -1), "digit must be between 0 and 9"),
    (lambda net: explain.attribution(net, np.zeros(784), 2.5), "digit must be an integer"),
    (lambda net: explain.attribution(net, np.zeros(784), True), "digit must be an integer"),
    (lambda net: explain.attribution(net, np.zeros(784), 3, steps=0), "steps must be between"),
    (lambda net: explain.attribution(net, np.zeros(784), 3, steps=10**6), "steps must be between"),
    (lambda net: explain.unit_arithmetic(net, np.zeros(784), 16), "unit must be between 0 and 15"),
    (lambda net: explain.unit_arithmetic(net, np.zeros(784), "3"), "unit must be an integer"),
    (lambda net: explain.unit_arithmetic(net, np.zeros(10), 1), "shape"),
    (lambda net: explain.strongest_unit(net, np.zeros(10)), "shape"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call(Network([784, 16, 10]))


def test_networks_without_hidden_units_are_refused():
    with pytest.raises(ValueError, match="no hidden layer"):
        explain.unit_arithmetic(Network([784, 10]), np.zeros(784), 0)
    with pytest.raises(ValueError, match="no hidden layer"):
        explain.strongest_unit(Network([784, 10]), np.zeros(784))


def test_astype_copies_for_reading_and_leaves_the_network_alone(shipped_net):
    exact = shipped_net.astype(np.float64)
    assert shipped_net.astype(np.float32) is shipped_net
    assert exact.dtype == np.float64 and shipped_net.dtype == np.float32
    for a, b in zip(exact.weights + exact.biases, shipped_net.weights + shipped_net.biases):
        assert a.dtype == np.float64 and b.dtype == np.float32 and np.array_equal(a, b)
    x = np.random.default_rng(9).random(784)
    np.testing.assert_allclose(exact.feedforward(x), shipped_net.feedforward(x), atol=1e-6)
