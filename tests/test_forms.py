"""The library of digit forms: templates, random drawings, painting as the canvas does,
and reading them through the web app's preprocessing (``webapp.teaching.drawings``)."""

import io

import numpy as np
import pytest
from PIL import Image

from model import canvas, strokes
from tests.drawings import BASE, render as pillow_render
from webapp.reading.normalise import read_digit
from webapp.teaching import drawings

ISSUE_FORMS = ["9-hook", "9-g", "7-hook-crossed", "7-crossed", "1-tall-flag", "1-flag-foot",
               "4-open-one-stroke", "4-closed", "2-looped", "2-plain", "3-flat-top", "8-figure",
               "8-two-circles", "0-slashed", "0-oval", "6-round", "6-straight-stem"]


def png(luminance):
    buffer = io.BytesIO()
    Image.fromarray(luminance, mode="L").save(buffer, "PNG")
    return buffer.getvalue()


def test_every_form_the_issue_names_is_there_with_known_traditions():
    assert set(ISSUE_FORMS) <= set(strokes.BY_NAME)
    for form in strokes.FORMS:
        assert form.traditions and set(form.traditions) <= set(strokes.TRADITIONS), form.name
        for stroke in form.strokes:
            points, corner = strokes.control_points(stroke)
            assert points.shape == (len(corner), 2) and (0 <= points).all() and (points <= 1).all()
    # Every tradition has forms, and every digit has a form in every tradition.
    for tradition in strokes.TRADITIONS:
        assert {f.digit for f in strokes.select([tradition])} == set(range(10)), tradition


def test_select_by_tradition_and_exclusion():
    european = strokes.select(["european"])
    assert all("european" in f.traditions for f in european)
    assert "1-tall-flag" in {f.name for f in european}
    left = strokes.select(exclude=["european"])
    common = {f.name for f in strokes.FORMS if f.traditions == strokes.ALL}
    assert common and common <= {f.name for f in left}
    assert not any("european" in f.traditions for f in left if f.name not in common)
    distinctive = strokes.select(["european"], shared=False)
    assert {f.name for f in distinctive} == {f.name for f in european} - common
    assert len(left) + len(distinctive) == len(strokes.FORMS)
    assert {f.digit for f in left} == set(range(10))
    with pytest.raises(ValueError, match="klingon"):
        strokes.select(["klingon"])


def test_curve_passes_through_control_points_and_keeps_corners():
    points, corner = strokes.control_points("10,10 50,10! 50,90")
    path = strokes.curve(points, corner)
    for p in points:
        assert np.hypot(*(path - p).T).min() < 1e-9
    # Straight into and out of the corner: nothing bulges past it.
    assert path[:, 0].max() <= 0.5 + 1e-9 and path[:, 1].min() >= 0.1 - 1e-9


def test_samples_vary_stay_on_the_canvas_and_repeat_with_the_seed():
    form = strokes.BY_NAME["7-hook-crossed"]
    first = strokes.sample(form, np.random.default_rng(5))
    again = strokes.sample(form, np.random.default_rng(5))
    other = strokes.sample(form, np.random.default_rng(6))
    assert len(first) == 2
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.allclose(first[0][0], other[0][0])
    for seed in range(50):
        for stroke in strokes.sample(form, np.random.default_rng(seed)):
            assert stroke.shape[1] == 2 and (stroke >= 0).all() and (stroke <= 1).all()


def test_pen_speed_sets_point_spacing():
    form = strokes.BY_NAME["1-stick"]
    slow = strokes.Variation(spacing=(0.005, 0.005), tremor=(0, 0))
    fast = strokes.Variation(spacing=(0.05, 0.05), tremor=(0, 0))
    n_slow = len(strokes.sample(form, np.random.default_rng(0), slow)[0])
    n_fast = len(strokes.sample(form, np.random.default_rng(0), fast)[0])
    assert n_slow > 4 * n_fast


def test_render_draws_a_round_pen_one_fourteenth_of_the_side():
    lum = canvas.render([np.array([[0.5, 0.5]])])           # a dot: a disc 20 px across
    assert lum.shape == (280, 280) and lum.dtype == np.uint8
    ink = lum < 128
    assert ink[140].sum() == pytest.approx(20, abs=1) and ink[:, 140].sum() == pytest.approx(20, abs=1)
    assert lum.min() == round(canvas.INK) and lum.max() == 255
    line = canvas.render([np.array([[0.2, 0.5], [0.8, 0.5]])]) < 128
    assert line[:, 140].sum() == pytest.approx(20, abs=1)
    assert line[140].sum() == pytest.approx(0.6 * 280 + 20, abs=2)   # round caps add a radius
    slope = canvas.render([np.array([[0.2, 0.3], [0.8, 0.7]])])[:, 140]
    assert ((slope > 30) & (slope < 230)).sum() >= 2                 # anti-aliased, not jagged


def test_render_matches_pillow_drawing_of_the_same_path():
    """The page's smoothed path painted by us and by Pillow: the 28×28 readings nearly agree."""
    for name in ["7-crossed", "1-flag-foot", "4", "8"]:
        ours = drawings.read_painting(canvas.render(BASE[name][1])).image
        path = [canvas.page_path(np.array(stroke)).tolist() for stroke in BASE[name][1]]
        theirs = read_digit(pillow_render(path)).image
        assert np.abs(ours - theirs).mean() < 0.02, name


def test_the_array_path_equals_the_png_path():
    """Feeding the painted luminance to the preprocessing equals uploading it as a PNG."""
    rng = np.random.default_rng(0)
    for name in ["9-hook", "4-open-one-stroke", "8-two-circles", "1-tall-flag", "0-slashed"]:
        lum = canvas.render(strokes.sample(strokes.BY_NAME[name], rng))
        assert np.array_equal(drawings.read_painting(lum).image, read_digit(png(lum)).image), name


def test_drawings_are_balanced_cached_and_honour_exclusion(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(tmp_path))
    images, labels, names = drawings.drawings(40, seed=3, exclude=["european"])
    assert images.shape == (40, 28, 28) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1 and (images.reshape(40, -1).max(1) > 0.5).all()
    assert np.bincount(labels, minlength=10).tolist() == [4] * 10
    assert all(str(n)[0] == str(d) for n, d in zip(names, labels))
    european = {f.name for f in strokes.select(["european"], shared=False)}
    assert not european & set(names)
    assert len(list((tmp_path / "forms").glob("*.npz"))) == 1
    again = drawings.drawings(40, seed=3, exclude=["european"])
    assert np.array_equal(again[0], images) and np.array_equal(again[2], names)
    assert not np.array_equal(drawings.drawings(40, seed=4)[0], images)


def test_a_tradition_s_distinctive_forms_take_turns_by_digit():
    chosen = drawings.plan(200, 0, ["european"], shared=False)
    digits = {f.digit for f in strokes.select(["european"], shared=False)}
    assert {f.digit for f in chosen} == digits and len(digits) < 10
    assert all(f.traditions != strokes.ALL and "european" in f.traditions for f in chosen)
    with pytest.raises(ValueError, match="no forms"):
        drawings.plan(10, 0, exclude=list(strokes.TRADITIONS), shared=False)
