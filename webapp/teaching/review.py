"""The review queue's order: how suspicious each new sample is, and why.

Public corrections arrive new (``core.samples``); before a default retrain
trains on one, the operator accepts it. This module ranks the new samples so
that the ones most likely wrong come first, each with a score (the sum of its
reasons' weights) and the reasons in words:

``disagrees``  the label differs from a confident reading of the serving model
               (probability ≥ ``REVIEW_CONFIDENT``);
``client``     most of this client's new samples disagree so: a vandal, not a
               visitor correcting a mistake or two;
``burst``      one of ``REVIEW_BURST`` or more new samples from one client within
               an hour (the client key, a keyed hash of the address);
``duplicate``  the same picture as another new sample, to within a few grey
               levels at 14×14 (the same drawing sent again, perhaps with
               another label);
``shape``      not shaped like a digit: ink over much of the square, many
               separate marks or enclosed holes, or no digit read with any
               confidence;
``none``       labelled "not a digit": never trained on, but worth a look.

Each process keeps what it computed per sample (the ink measures, and the
served model's reading per version), so a page load reads the rows and
ranks them, and computes only what arrived since. Nothing here writes:
``core.samples.set_state`` accepts and rejects.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from flask import current_app
from flask_babel import format_percent, gettext, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import load_only

import model

from ..core import samples
from ..core.db import Sample, as_utc, db
from ..core.served import get_model

KINDS = {
    "disagrees": _l("label disagrees with a confident reading"),
    "client": _l("a client whose labels mostly disagree"),
    "burst": _l("a burst from one client"),
    "duplicate": _l("near-duplicate"),
    "shape": _l("not shaped like a digit"),
    "none": _l("labelled not a digit"),
}
MAX_SCORED = 20_000        # the oldest new samples ranked at once; the rest wait their turn
BURST_WINDOW = timedelta(hours=1)
CLIENT_MINIMUM = 5         # samples from a client (or a burst's, if fewer) before its
                           # disagreement rate counts
CLIENT_RATE = 0.5          # …and the share of them disagreeing that flags the client
DUPLICATE_LEVELS = 32      # a duplicate: the same 14×14 picture at 8 levels of grey (256 / 32)
CACHED = 50_000            # samples whose features (and readings) a process keeps
INK_SHARE = 0.35           # MNIST's digits cover at most a third of the square with ink
MARKS = 4                  # separate marks (connected pieces of ink) a digit rarely has
HOLES = 4                  # enclosed holes: 0.6 % of MNIST's test digits, a third of scribbles
UNSURE = 0.5               # no digit read above this probability


@dataclass
class Flagged:
    """One new sample in the queue: its row (no upload), score and ``(kind, words)`` reasons."""

    sample: Sample
    score: float = 0.0
    reasons: list = field(default_factory=list)

    def add(self, kind, weight, words):
        self.score += weight
        self.reasons.append((kind, words))

    @property
    def kinds(self):
        return {kind for kind, _ in self.reasons}


def new_samples(limit=MAX_SCORED):
    return db.session.scalars(
        select(Sample).options(load_only(
            Sample.id, Sample.created, Sample.label, Sample.predicted, Sample.model_version,
            Sample.source, Sample.pixels, Sample.held_out, Sample.client, Sample.state))
        .where(Sample.state == samples.NEW).order_by(Sample.id).limit(limit)).all()


def ranked(reason=None, client=None):
    """The new samples, most suspicious first, as ``Flagged``; ``reason`` (a kind of
    ``KINDS``, or "clean" for none) and ``client`` keep only those that match."""
    rows = new_samples()
    flagged = assess(rows, get_model()) if rows else []
    db.session.commit()
    if reason == "clean":
        flagged = [f for f in flagged if not f.reasons]
    elif reason:
        flagged = [f for f in flagged if reason in f.kinds]
    if client:
        flagged = [f for f in flagged if f.sample.client == client]
    return sorted(flagged, key=lambda f: (-f.score, f.sample.id))


def assess(rows, loaded):
    """Score ``rows`` (new samples) against each other and the served model ``loaded``."""
    config = current_app.config
    confident, burst = config["REVIEW_CONFIDENT"], config["REVIEW_BURST"]
    probabilities = readings(rows, loaded)
    share, separate, enclosed, keys = zip(*features(rows))
    read, sure = probabilities.argmax(axis=1), probabilities.max(axis=1)
    flagged = [Flagged(row) for row in rows]
    labels = np.array([r.label for r in rows])
    disagrees = (read != labels) & (sure >= confident)
    for f, row, digit, p, wrong in zip(flagged, rows, read, sure, disagrees):
        named = gettext("not a digit") if row.label == samples.NOT_A_DIGIT else f"{row.label}"
        if wrong:
            f.add("disagrees", 2 + (p - confident) / max(1 - confident, 1e-6),
                  gettext("read as %(digit)s (%(sure)s sure), labelled %(label)s",
                          digit=digit, sure=format_percent(p), label=named))
        if row.label == samples.NOT_A_DIGIT:
            f.add("none", 1, gettext("labelled not a digit"))
    add_client_reasons(flagged, disagrees, burst)
    add_duplicates(flagged, keys)
    add_shape(flagged, share, separate, enclosed, sure)
    return flagged


def add_client_reasons(flagged, disagrees, burst):
    """Bursts (many new samples from one client within an hour), and clients whose labels
    mostly disagree with confident readings."""
    by_client = {}
    for i, f in enumerate(flagged):
        if f.sample.client:
            by_client.setdefault(f.sample.client, []).append(i)
    window = BURST_WINDOW.total_seconds()
    for members in by_client.values():
        times = np.array([as_utc(flagged[i].sample.created).timestamp() for i in members])
        order = np.sort(times)
        near = (np.searchsorted(order, times + window, side="right")
                - np.searchsorted(order, times - window, side="left"))
        for i, count in zip(members, near):
            if count >= burst:
                flagged[i].add("burst", 1 + min(count / (10 * burst), 0.5),
                               gettext("one of %(num)s from one client within an hour of it",
                                       num=count))
        wrong = int(disagrees[members].sum())
        if len(members) >= min(CLIENT_MINIMUM, burst) and wrong >= CLIENT_RATE * len(members):
            for i in members:
                flagged[i].add("client", 2 * wrong / len(members),
                               gettext("this client's labels disagree with confident "
                                       "readings %(wrong)s times in %(num)s", wrong=wrong,
                                       num=len(members)))


def fingerprints(pictures):
    """(n, 28, 28) uint8 → n bytes keys: the 14×14 means at 8 levels. The same drawing sent
    again (re-encoded, or a pixel off here and there) gets the same key; two people's
    drawings of a 1 rarely do."""
    pooled = pictures.astype(np.uint16).reshape(len(pictures), 14, 2, 14, 2).mean(axis=(2, 4))
    return [row.tobytes() for row in (pooled // DUPLICATE_LEVELS).astype(np.uint8)]


def add_duplicates(flagged, keys):
    """Each sample's new duplicates (the same ``fingerprints`` key), and whether their labels
    differ."""
    groups = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        labels = {flagged[i].sample.label for i in members}
        for i in members:
            others = sorted(labels - {flagged[i].sample.label})
            first = next(flagged[j].sample.id for j in members if j != i)
            words = ngettext("near-duplicate of %(num)s other new drawing (#%(id)s)",
                             "near-duplicate of %(num)s other new drawings (#%(id)s)",
                             len(members) - 1, id=first)
            if others:
                words += gettext(", labelled %(labels)s", labels=", ".join(
                    gettext("not a digit") if o == samples.NOT_A_DIGIT else str(o)
                    for o in others))
            flagged[i].add("duplicate", 1 + 0.5 * bool(others), words)


EIGHT = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
FOUR = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def pieces(mask, neighbours):
    """The connected pieces of each boolean picture in ``mask`` (n, h, w): every pixel takes
    its neighbours' largest index until none changes; a piece's root keeps its own. (n,)"""
    n, h, w = mask.shape
    index = np.arange(1, n * h * w + 1, dtype=np.int32).reshape(n, h, w)
    labels = np.where(mask, index, 0)
    while True:
        padded = np.pad(labels, ((0, 0), (1, 1), (1, 1)))
        spread = np.where(mask, np.max([padded[:, 1 + dy:h + 1 + dy, 1 + dx:w + 1 + dx]
                                        for dy, dx in neighbours], axis=0), 0)
        if np.array_equal(spread, labels):
            return ((labels == index) & mask).sum(axis=(1, 2))
        labels = spread


def marks(pictures, threshold=80):
    """The separate pieces of ink (8-connected) in each picture, counted on a 14×14
    maximum so a pen's gaps of a pixel do not split a stroke. (n,) ints."""
    ink = pictures.reshape(len(pictures), 14, 2, 14, 2).max(axis=(2, 4)) >= threshold
    return pieces(ink, EIGHT)


def holes(pictures, threshold=80):
    """Background enclosed by ink (4-connected pieces of background but the outside one):
    an 8 has two, a scribble's crossings make many. (n,) ints."""
    background = np.pad(pictures < threshold, ((0, 0), (1, 1), (1, 1)), constant_values=True)
    return pieces(background, FOUR) - 1


def add_shape(flagged, share, separate, enclosed, sure):
    """Not shaped like a digit: too much ink, too many separate marks or enclosed holes, or
    no confident digit."""
    for f, s, k, o, p in zip(flagged, share, separate, enclosed, sure):
        signs = []
        if s > INK_SHARE:
            signs.append(gettext("ink over %(share)s of the square", share=format_percent(s)))
        if k >= MARKS:
            signs.append(gettext("%(num)s separate marks", num=k))
        if o >= HOLES:
            signs.append(gettext("%(num)s enclosed holes", num=o))
        if p < UNSURE:
            signs.append(gettext("no digit above %(limit)s (best %(best)s)",
                                 limit=format_percent(UNSURE), best=format_percent(p)))
        if signs:
            f.add("shape", 0.5 * len(signs), gettext("not shaped like a digit: %(signs)s",
                                                     signs=", ".join(signs)))


def features(rows):
    """Per row: ``(ink share, marks, holes, fingerprint)``, from the process's cache where it has
    them (keyed by the picture itself: it alone decides them; counting marks is slow)."""
    cache = current_app.extensions.setdefault("review_features", {})
    missing = [r for r in rows if hash(r.pixels) not in cache]
    if missing:
        if len(cache) + len(missing) > CACHED:
            cache.clear()
        pictures = stack(missing)
        share = (pictures > 127).mean(axis=(1, 2))
        for row, s, k, o, key in zip(missing, share, marks(pictures), holes(pictures),
                                     fingerprints(pictures)):
            cache[hash(row.pixels)] = (float(s), int(k), int(o), key)
    return [cache[hash(r.pixels)] for r in rows]


def readings(rows, loaded):
    """Per row, the served model's probabilities (10,), cached per model version."""
    cache = current_app.extensions.setdefault("review_readings", {})
    if cache.get("version") != loaded.version or len(cache) > CACHED:
        cache.clear()
        cache["version"] = loaded.version
    missing = [r for r in rows if hash(r.pixels) not in cache]
    net = loaded.net
    for start in range(0, len(missing), 1024):
        chunk = missing[start:start + 1024]
        for row, p in zip(chunk, net.feedforward(model.inputs(net, stack(chunk)))):
            cache[hash(row.pixels)] = p
    return np.array([cache[hash(r.pixels)] for r in rows]).reshape(len(rows), 10)


def stack(rows):
    return np.frombuffer(b"".join(r.pixels for r in rows), dtype=np.uint8).reshape(-1, 28, 28)
