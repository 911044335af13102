"""The pen handwriting generator (model/pen.py) and MNIST re-drawn as pen strokes
(model/redraw.py): the kinds the issue names, in their proportions, and writers that
keep training and evaluation apart."""

from pathlib import Path

import numpy as np
import pytest

from model import canvas, mnist, pen, redraw
from webapp.teaching.drawings import read_painting

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_writer_is_its_seed_and_evaluation_writers_are_never_trained_on():
    assert pen.writer(7) == pen.writer(7)
    assert pen.writer(7) != pen.writer(8)
    assert not set(pen.TRAINING_WRITERS) & set(pen.EVALUATION_WRITERS)


def test_every_kind_reads_as_a_digit_through_the_page_reading():
    rng = np.random.default_rng(0)
    for kind in pen.ALL_KINDS:
        for seed in range(3):
            drawing = pen.sample(kind, pen.writer(seed), rng, anywhere=bool(seed % 2))
            assert all(((s >= 0) & (s <= 1)).all() for s in drawing)
            digit = read_painting(canvas.render(drawing))
            assert digit.image is not None and digit.image.shape == (28, 28), kind


def test_tiny_headed_nines_have_a_head_of_about_a_fifth_and_a_tail_to_the_left():
    rng = np.random.default_rng(1)
    heads, tails = [], []
    for seed in range(40):
        w = pen.writer(seed)
        for kind in ("9-tiny-head-J", "9-tiny-head-g"):
            (path,) = pen.shape(kind, w, rng)
            height = path[:, 1].max() - path[:, 1].min()
            head = path[:40]               # most of the first turn of the loop (48 points)
            heads.append((head[:, 1].max() - head[:, 1].min()) / height)
            tails.append(path[60:, 0].min() < head[:, 0].min())   # it sweeps past the head
    assert max(heads) <= 0.32 and np.median(heads) <= 0.21
    assert np.mean(tails) >= 0.9


def test_arched_sevens_have_a_long_low_bar_through_the_stem():
    rng = np.random.default_rng(2)
    for seed in range(30):
        top, bar = pen.shape("7-arched-bar", pen.writer(seed), rng)
        assert 0.35 < bar[:, 1].mean() < 0.85
        stem_x = np.interp(bar[:, 1].mean(), top[len(top) // 2:, 1], top[len(top) // 2:, 0])
        assert bar[:, 0].min() < stem_x < bar[:, 0].max()
        assert np.ptp(bar[:, 0]) > 0.3


def test_one_stroke_fours_are_one_stroke_and_looped_fours_close_a_loop():
    rng = np.random.default_rng(3)
    assert len(pen.shape("4-lightning", pen.writer(0), rng)) == 1
    assert len(pen.shape("4-lightning-crossed", pen.writer(0), rng)) == 1
    looped, _stem = pen.shape("4-looped", pen.writer(0), rng)
    # the stroke crosses itself: two segments far apart along it come within a pen width
    gaps = np.hypot(*(looped[:, None] - looped[None]).transpose(2, 0, 1))
    far = np.abs(np.arange(len(looped))[:, None] - np.arange(len(looped))[None]) > 20
    assert (gaps[far] < 0.03).any()


def test_the_plan_balances_digits_and_draws_the_new_kinds_often():
    plan = pen.plan(2000, range(200), seed=0)
    digits = np.array([d for _, _, d, _ in plan])
    assert np.bincount(digits).tolist() == [200] * 10
    for digit, kinds in pen.KINDS.items():
        share = np.mean([k in kinds for _, k, d, _ in plan if d == digit])
        assert 0.25 < share < 0.75, (digit, share)


def test_the_skeleton_is_one_pixel_wide_and_the_trace_covers_it():
    images = mnist.read_idx(FIXTURES / "t10k-500-images-idx3-ubyte.gz")[:50] / 255
    skeletons = redraw.skeleton(images)
    blocks = (skeletons[:, 1:, 1:] & skeletons[:, :-1, 1:]
              & skeletons[:, 1:, :-1] & skeletons[:, :-1, :-1])
    assert not blocks.any()
    assert (skeletons <= (images > redraw.THRESHOLD)).all()
    for mask in skeletons:
        traced = {tuple(p) for line in redraw.trace(mask) for p in line.astype(int).tolist()}
        pixels = {(x, y) for y, x in zip(*np.nonzero(mask))}
        assert traced <= pixels and len(traced) >= 0.9 * len(pixels)


def test_a_redrawn_mnist_digit_reads_back_like_its_original():
    images = mnist.read_idx(FIXTURES / "t10k-500-images-idx3-ubyte.gz")[:40] / 255
    rng = np.random.default_rng(4)
    similar = []
    for image in images:
        digit = read_painting(canvas.render(redraw.strokes_of(image, rng)))
        similar.append(np.corrcoef(digit.image.ravel(), image.ravel())[0, 1])
    assert np.median(similar) > 0.7


@pytest.mark.parametrize("kind", ["9-tiny-head-J", "7-arched-bar", "4-lightning"])
def test_anywhere_places_the_digit_at_many_sizes(kind):
    rng = np.random.default_rng(5)
    heights = [np.ptp(np.vstack(pen.sample(kind, pen.writer(s), rng, anywhere=True))[:, 1])
               for s in range(30)]
    assert min(heights) < 0.4 and max(heights) > 0.7
