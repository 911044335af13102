"""Canvas fidelity: MNIST test digits drawn as a canvas would send them read as well as raw.

Each digit is upscaled ×10 to 280×280 and inverted to dark ink on white, the
way the draw page's canvas looks, encoded as PNG and sent through the whole
preprocessing path (decode, polarity, crop, 20 px box, centre of mass, the
model's own deskew). The shipped model's accuracy on these must stay within
0.5 points of its accuracy on the raw test images: the preprocessing
reproduces MNIST's normalisation instead of inventing its own. The whole test
set needs ``$DIGITS_DATA_DIR``; the 500-image fixture always runs, with a
bound loosened for its size.
"""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import model
from model import mnist
from tests.support import DATA_DIR, needs_data
from webapp.reading.normalise import read_digit

FIXTURES = Path(__file__).parent / "fixtures"


def as_canvas_png(image, resample):
    """An MNIST image (28, 28) uint8 → the 280×280 dark-on-white PNG a canvas would send."""
    canvas = Image.fromarray(255 - image).resize((280, 280), resample)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def accuracies(shipped, images, labels, resample):
    """(raw accuracy, accuracy through the canvas path), both on ``images`` (n, 28, 28)."""
    net, _ = shipped
    raw = net.count_correct(model.inputs(net, images), labels) / len(labels)
    drawn = []
    for image in images:
        digit = read_digit(as_canvas_png(image, resample))
        assert digit.image is not None, digit.blank
        drawn.append(digit.image)
    canvas = net.count_correct(model.inputs(net, np.stack(drawn)), labels) / len(labels)
    print(f"\n{len(labels)} digits ({resample.name}): raw {raw:.4f}, through the canvas path "
          f"{canvas:.4f} ({100 * (canvas - raw):+.2f} points)")
    return raw, canvas


@pytest.mark.parametrize("resample", [Image.Resampling.NEAREST, Image.Resampling.BILINEAR],
                         ids=["nearest", "bilinear"])
def test_fixture_digits_read_as_well_through_the_canvas_path(shipped, resample):
    images = mnist.read_idx(FIXTURES / "t10k-500-images-idx3-ubyte.gz")
    labels = mnist.read_idx(FIXTURES / "t10k-500-labels-idx1-ubyte.gz")
    raw, canvas = accuracies(shipped, images, labels, resample)
    assert abs(canvas - raw) <= 0.015        # 1.5 points: 7 of 500 digits


@needs_data
def test_whole_test_set_reads_within_half_a_point_through_the_canvas_path(shipped):
    data = mnist.load(DATA_DIR)
    raw, canvas = accuracies(shipped, data["test_images"], data["test_labels"],
                             Image.Resampling.NEAREST)
    assert abs(canvas - raw) <= 0.005
