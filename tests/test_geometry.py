"""Resampling, deskewing and input preparation (shared by training and the web app)."""

from pathlib import Path

import numpy as np
import pytest

from model import geometry, mnist

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def digits():
    images = mnist.read_idx(FIXTURES / "t10k-500-images-idx3-ubyte.gz")
    return images[:64].astype(np.float32) / 255


def test_identity_map_returns_the_image(digits):
    ys, xs = geometry.grid(28, 28)
    out = geometry.bilinear_sample(digits, np.broadcast_to(ys, digits.shape),
                                   np.broadcast_to(xs, digits.shape))
    assert np.allclose(out, digits, atol=1e-6)


def test_bilinear_interpolates_and_reads_zero_outside():
    image = np.array([[[0, 1], [2, 3]]], dtype=np.float32)
    ys = np.array([[[0.5, 0.0], [-3.0, 1.0]]], dtype=np.float32)
    xs = np.array([[[0.5, 0.25], [0.0, 5.0]]], dtype=np.float32)
    out = geometry.bilinear_sample(image, ys, xs)
    assert np.allclose(out, [[[1.5, 0.25], [0.0, 0.0]]])


def test_half_pixel_shift_blends_neighbours():
    image = np.zeros((1, 5, 5), dtype=np.float32)
    image[0, 2, 2] = 1
    ys, xs = geometry.grid(5, 5)
    out = geometry.bilinear_sample(image, ys[None], xs[None] + 0.5)
    assert out[0, 2, 1] == pytest.approx(0.5) and out[0, 2, 2] == pytest.approx(0.5)


def slanted_bar(shear):
    """A vertical bar sheared so its top leans right by ``shear`` px per row."""
    image = np.zeros((1, 28, 28), dtype=np.float32)
    for y in range(4, 24):
        x = 11 + shear * (y - 4)
        image[0, y, int(x):int(x) + 3] = 1
    return image


@pytest.mark.parametrize("shear", [-0.4, 0.3])
def test_deskew_straightens_and_centres(shear):
    image = slanted_bar(shear)
    cy, cx, var_y, cov_xy, _ = geometry.moments(image)
    assert abs(cov_xy[0] / var_y[0]) > 0.25
    cy, cx, var_y, cov_xy, mass = geometry.moments(geometry.deskew(image))
    assert abs(cov_xy[0] / var_y[0]) < 0.03
    assert cy[0] == pytest.approx(13.5, abs=0.1) and cx[0] == pytest.approx(13.5, abs=0.1)


def test_deskew_of_blank_image_is_blank():
    out = geometry.deskew(np.zeros((2, 28, 28), dtype=np.float32))
    assert out.shape == (2, 28, 28) and not out.any()


def test_deskew_keeps_mnist_digits_recognisable(digits):
    out = geometry.deskew(digits)
    # Deskewing moves ink, it should neither lose nor invent much of it.
    ratio = out.sum(axis=(1, 2)) / digits.sum(axis=(1, 2))
    assert np.all((ratio > 0.9) & (ratio < 1.1))


def test_prepare_accepts_uint8_and_float_alike(digits):
    as_uint8 = (digits * 255).round().astype(np.uint8)
    a = geometry.prepare(as_uint8)
    b = geometry.prepare(digits)
    assert a.shape == (64, 784) and a.dtype == np.float32
    assert np.allclose(a, b, atol=1e-5)
    assert 0 <= a.min() and a.max() <= 1
    plain = geometry.prepare(digits, use_deskew=False)
    assert np.array_equal(plain, digits.reshape(64, 784))
