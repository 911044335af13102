"""Training-time augmentation and the handwriting styles drawn onto MNIST digits."""

from pathlib import Path

import numpy as np
import pytest

from model import augment, geometry, mnist, styles

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def fixture_set():
    images = mnist.read_idx(FIXTURES / "train-1000-images-idx3-ubyte.gz")
    labels = mnist.read_idx(FIXTURES / "train-1000-labels-idx1-ubyte.gz")
    return geometry.prepare(images).reshape(-1, 28, 28), labels


def test_augment_shape_range_and_determinism(fixture_set):
    images, labels = fixture_set
    a = augment.augment(images, np.random.default_rng(5), labels=labels)
    b = augment.augment(images, np.random.default_rng(5), labels=labels)
    c = augment.augment(images, np.random.default_rng(6), labels=labels)
    assert a.shape == images.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1.0 + 1e-6


def test_augment_distorts_but_keeps_the_digit(fixture_set):
    images, _ = fixture_set
    out = augment.augment(images, np.random.default_rng(0))
    changed = np.abs(out - images).mean(axis=(1, 2))
    assert np.all(changed > 0.005)
    # The ink stays mostly in place: distorted digits still overlap the originals.
    overlap = (out * images).sum(axis=(1, 2)) / np.sqrt(
        (out ** 2).sum(axis=(1, 2)) * (images ** 2).sum(axis=(1, 2)))
    assert np.median(overlap) > 0.6


def test_no_distortion_config_is_identity(fixture_set):
    images, _ = fixture_set
    still = augment.AugmentConfig(rotation_degrees=0, scale=0, aspect=0, shear=0, shift=0,
                                  elastic_alpha=0, thicken=0, thin=0, styles=None)
    out = augment.augment(images[:50], np.random.default_rng(0), still)
    assert np.allclose(out, images[:50], atol=1e-5)


def test_thickening_adds_ink_and_thinning_removes_it(fixture_set):
    images = fixture_set[0][:100]
    rng = np.random.default_rng(0)
    thick = augment.stroke_thickness(images.copy(), rng, augment.AugmentConfig(thicken=1, thin=0))
    thin = augment.stroke_thickness(images.copy(), rng, augment.AugmentConfig(thicken=0, thin=1))
    ink = images.sum(axis=(1, 2))
    assert np.all(thick.sum(axis=(1, 2)) >= ink - 1e-3)
    assert np.all(thin.sum(axis=(1, 2)) <= ink + 1e-3)
    assert thick.sum() > 1.1 * ink.sum() and thin.sum() < 0.9 * ink.sum()


def test_styles_draw_on_sevens_ones_and_nines_only(fixture_set):
    images, labels = fixture_set
    every = styles.StyleConfig(crossed_seven=1, one_flag=1, one_foot=1, nine_curl=1)
    out = styles.add_styles(images.copy(), labels, np.random.default_rng(0), every)
    added = (out - images).sum(axis=(1, 2))
    styled = np.isin(labels, [1, 7, 9])
    assert np.all(added[~styled] == 0)
    assert np.median(added[styled]) > 3   # a few pixels' worth of new stroke


def test_crossed_seven_bar_crosses_the_stem(fixture_set):
    images, labels = fixture_set
    seven = images[labels == 7][:1]
    every = styles.StyleConfig(crossed_seven=1)
    out = styles.add_styles(seven.copy(), np.array([7]), np.random.default_rng(1), every)
    new_ink = (out - seven)[0] > 0.5
    rows = np.nonzero(new_ink.any(axis=1))[0]
    cols = np.nonzero(new_ink.any(axis=0))[0]
    assert rows.max() - rows.min() <= 4          # nearly horizontal
    assert cols.max() - cols.min() >= 6          # and wider than the stem
    assert 10 <= rows.mean() <= 20               # in the middle of the digit


def test_draw_segments_draws_a_line():
    canvas = np.zeros((1, 28, 28), dtype=np.float32)
    styles.draw_segments(canvas, np.array([[[14.0, 4.0, 14.0, 23.0]]]), np.array([2.0]))
    assert canvas[0, 14, 4:24].min() == pytest.approx(1.0)
    assert canvas[0, :12].max() == 0 and canvas[0, 17:].max() == 0
