"""Digits drawn the way people draw them, rendered on a canvas and read through the whole path.

The shipped model must read the usual shapes and the styles MNIST's writers
rarely used (crossed 7, 1 with a flag and a foot, 9 with a curled tail),
drawn full size, small in a corner, and slanted.
"""

import pytest

import model
from tests.drawings import BASE, all_drawings, render
from webapp.reading.normalise import read_digit

DRAWINGS = all_drawings()


def read(shipped, strokes):
    net, _ = shipped
    digit = read_digit(render(strokes))
    X = model.inputs(net, digit.image[None])
    return net.feedforward(X)[0]


@pytest.mark.parametrize("name", sorted(BASE))
def test_shipped_model_reads_each_drawing_full_size(shipped, name):
    digit, strokes = BASE[name]
    probabilities = read(shipped, strokes)
    assert probabilities.argmax() == digit, f"{name} read as {probabilities.argmax()}"


def test_shipped_model_reads_small_and_slanted_drawings(shipped):
    wrong = [name for name, (digit, strokes) in DRAWINGS.items()
             if read(shipped, strokes).argmax() != digit]
    assert len(wrong) <= len(DRAWINGS) // 20, f"misread: {wrong}"
