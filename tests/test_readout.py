"""The live bars' numbers (webapp/reading/readout.py): written as Python writes them."""

import re

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


def test_a_layers_bars_are_one_rectangle_per_unit_in_two_paths():
    values = np.random.default_rng(1).random(20)
    shown = layer(values)
    every, strongest = shown.bar_paths()
    bars = re.findall(r"M([\d.]+) ([\d.]+)v-([\d.]+)h0\.7v\3z", every)
    assert "".join(f"M{x} {y}v-{h}h0.7v{h}z" for x, y, h in bars) == every
    assert [h for _, _, h in bars] == shown.numbers()["heights"].split(" ")
    for i, (x, y, h) in enumerate(bars):          # up from its cell's floor, in a 5-column grid
        assert float(x) == pytest.approx(i % 5 + 0.15) and float(h) == round(0.8 * values[i], 3)
        assert float(y) == pytest.approx(i // 5 + 0.9)
    strong = sorted(shown.strong)
    assert strong == sorted(np.argsort(-values)[:10].tolist())
    assert strongest == "".join(f"M{bars[i][0]} {bars[i][1]}v-{bars[i][2]}h0.7v{bars[i][2]}z"
                                for i in strong)
    assert 'class="bars"' in shown.svg() and shown.svg().count('class="cell"') == 20
