"""The live bars' numbers (webapp/reading/readout.py): written as Python writes them."""

import numpy as np
import pytest

from webapp.reading.readout import fixed_text, layer


def python_text(values, places):
    return " ".join(f"{x:.{places}f}" for x in np.asarray(values, dtype=np.float64).tolist())


@pytest.mark.parametrize("places", [2, 3])
def test_fixed_text_writes_every_value_as_python_does(places):
    rng = np.random.default_rng(places)
    ties = np.arange(0, 10**places) / 10**places + 0.5 / 10**places   # x.xx5: the rounding ties
    cases = [rng.random(800), rng.random(800) ** 8, ties, ties + 1e-12, ties - 1e-12,
             np.array([0.0, 1.0, 1e-300, 0.9999999]), np.array([]),
             np.array([-1e-9, 0.5]), np.array([0.5, 1.5, 12.25]), np.array([np.nan, 0.2]),
             np.array([np.inf, 0.1])]
    for values in cases:
        assert fixed_text(values, places) == python_text(values, places)


def test_a_layers_numbers_carry_each_unit():
    values = np.random.default_rng(0).random(800)
    numbers = layer(values).numbers()
    activations = [float(v) for v in numbers["activations"].split(" ")]
    assert len(activations) == 800 and np.allclose(activations, values, atol=0.005)
    assert len(numbers["strong"].split(" ")) == 10
