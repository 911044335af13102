"""Dreams: the objective's gradient by central differences, and the shipped_net model's dreams."""

import numpy as np
import pytest

import model
from model import dream
from model.network import Network
from tests.gradients import central_differences, float64_net, relative_error


def test_total_variation_of_one_lit_pixel():
    image = np.zeros((1, 25))
    image[0, 12] = 1.0
    value, _ = dream.total_variation(image, 5, epsilon=0.05)
    assert value[0] == pytest.approx(4 * (np.sqrt(1 + 0.05 ** 2) - 0.05))


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_dream_objective_gradient_matches_finite_differences(activation):
    net = float64_net([16, 7, 4], activation)
    X = 0.2 + 0.6 * np.random.default_rng(8).random((3, 16))
    digits = np.array([0, 2, 3])
    for ink, smoothness in ((0.0, 0.0), (0.3, 0.0), (0.0, 0.7), (0.2, 0.5)):
        _, analytic = dream.dream_objective(net, X, digits, ink, smoothness)
        numeric = central_differences(
            lambda Z: dream.dream_objective(net, Z, digits, ink, smoothness)[0], X)
        assert relative_error(analytic, numeric) < 1e-6


def test_the_shipped_network_reads_its_dreams_as_their_digits(shipped_net):
    dreams = dream.dreams(shipped_net)
    assert [d.digit for d in dreams] == list(range(10))
    for d in dreams:
        assert d.image.shape == (784,) and d.probabilities.shape == (10,)
        assert d.image.min() >= 0 and d.image.max() <= 1
        assert d.probabilities[d.digit] >= 0.95
        assert float(shipped_net.feedforward(d.image)[0, d.digit]) >= 0.95
        # Read again through the model's own preprocessing (deskewing), as a page would.
        again = shipped_net.feedforward(model.inputs(shipped_net, d.image.reshape(1, 28, 28)))
        assert again[0, d.digit] >= 0.95
        # The priors at work: about as much ink as an MNIST digit (mean 0.13) where
        # plain ascent spreads 0.3-0.4.
        assert d.image.mean() < 0.15
    # And smooth strokes: total variation per unit of ink is 0.37-0.54 here (784-800-10),
    # but 0.89 for its thin 1 (a thin line is all edges); plain ascent's dreams are at
    # 0.84-1.11 on the same network, MNIST's digits at 0.6-1.1.
    variation = [dream.total_variation(d.image[None], 28)[0][0] / d.image.sum() for d in dreams]
    assert np.median(variation) < 0.6 and max(variation) < 0.92


def test_a_dream_is_the_same_for_the_same_seed(shipped_net):
    first, again = dream.dream(shipped_net, 4, seed=3), dream.dream(shipped_net, 4, seed=3)
    assert np.array_equal(first.image, again.image)
    assert first.digit == 4


def test_bad_dream_requests_are_refused_with_a_clear_message():
    net = Network([784, 16, 10])
    with pytest.raises(ValueError, match="digit must be between 0 and 9"):
        dream.dream(net, 11)
    with pytest.raises(ValueError, match="steps"):
        dream.dream(net, 1, steps=0)
    with pytest.raises(ValueError, match="square"):
        dream.dream(Network([20, 5, 10]), 1)
