"""Results you can explore (admin): the digits behind a cell of a run's confusion matrix.

    GET /admin/runs/<run>/cell?true=T&read=R

shows the MNIST test digits that the run's model version reads as R although
they are T, most confident first, and the collected drawings labelled T that
it reads as R. The run's results hold only the counts; the digits are found
again here by reading the test set (and the drawings) with that version, so
what is shown is exactly what was counted. A worst mistake opens the same
cell. The fragment goes into the run panel; without htmx it is a page.
"""

import numpy as np
from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext
from sqlalchemy import select

import model
from model import mnist, train

from ..core import registry
from ..core.db import Sample, db
from ..htmx import is_htmx
from ..reading import pictures
from . import auth
from .dashboard import get_run, refuse_impossible_ids

bp = Blueprint("explore", __name__, url_prefix="/admin")
bp.before_request(auth.require_login)
bp.url_value_preprocessor(refuse_impossible_ids)
SHOWN = 48                 # digits shown per cell, of each kind


def digit_arg(name):
    value = request.args.get(name, "")
    if value not in tuple("0123456789"):
        abort(400, gettext("%(name)s must be one digit from 0 to 9; got %(value)s.",
                           name=name, value=repr(value[:12])))
    return int(value)


def readings(net, images):
    """Images uint8 (n, 28, 28) → (predicted (n,), confidence (n,)) under ``net``."""
    if not len(images):
        return np.zeros(0, dtype=int), np.zeros(0)
    X = model.inputs(net, images)
    p = np.concatenate([net.feedforward(X[i:i + train.BATCH])
                        for i in range(0, len(X), train.BATCH)])
    return p.argmax(axis=1), p.max(axis=1)


def behind(net, images, labels, true, read):
    """Indices of the images labelled ``true`` that ``net`` reads as ``read``, most confident
    first, with their confidence; at most ``SHOWN``, and how many there are."""
    chosen = np.flatnonzero(labels == true)
    predicted, confidence = readings(net, images[chosen])
    hits = chosen[predicted == read]
    order = np.argsort(-confidence[predicted == read], kind="stable")
    return hits[order][:SHOWN], confidence[predicted == read][order][:SHOWN], len(hits)


def test_set():
    """MNIST's test images and labels, read (and SHA-256 checked) once per directory."""
    directory = str(mnist.resolve_data_dir(current_app.config["DATA_DIR"]))
    cache = current_app.extensions.setdefault("explore_mnist_test", {})
    if directory not in cache:
        paths = mnist.ensure_files(directory, download=False)
        cache[directory] = (mnist.read_idx(paths["test_images"]),
                            mnist.read_idx(paths["test_labels"]))
    return cache[directory]


@bp.get("/runs/<int:run_id>/cell")
def cell(run_id):
    run = get_run(run_id)
    true, read = digit_arg("true"), digit_arg("read")
    if not run.version_id:
        abort(404, gettext("Training run %(run)s made no model version: it has no results to open.",
                           run=run_id))
    net, _ = registry.load_version(registry.get(run.version_id))
    context = {"run": run, "label": true, "read": read, "test": None, "test_count": 0}
    try:
        test_images, test_labels = test_set()
    except mnist.DataError as exc:
        context["test_missing"] = str(exc).splitlines()[0]
    else:
        found, confidence, context["test_count"] = behind(net, test_images, test_labels,
                                                          true, read)
        context["test"] = [{"url": pictures.ink_data_url(test_images[i] / 255),
                            "index": int(i), "confidence": float(c)}
                           for i, c in zip(found, confidence)]
    rows = db.session.execute(select(Sample.id, Sample.pixels, Sample.label, Sample.held_out)
                              .where(Sample.label == true).order_by(Sample.id)).all()
    images = np.frombuffer(b"".join(r.pixels for r in rows), np.uint8).reshape(-1, 28, 28)
    found, confidence, context["drawn_count"] = behind(
        net, images, np.full(len(rows), true), true, read)
    context["drawn"] = [{"url": pictures.ink_data_url(images[i] / 255), "id": rows[i].id,
                         "held_out": rows[i].held_out, "confidence": float(c)}
                        for i, c in zip(found, confidence)]
    template = "admin/partials/_cell.html" if is_htmx() else "admin/cell.html"
    return render_template(template, **context)


def init_app(app):
    app.register_blueprint(bp)
