"""The admin dashboard: the data users taught, retraining, its progress and results, the models.

One page (``GET /admin/``) built from htmx partials in ``templates/admin/partials``;
each action answers with the partial it changed, so the page updates in
place, and a plain form post (no htmx) is redirected back to the page.
Everything here needs a login (``auth.require_login`` runs before every
view). The work is done elsewhere, by the functions the ``digits`` command
calls too: ``core.samples`` (the collected drawings), ``teaching.runs`` and
``teaching.settings`` (retraining on the job queue) and ``core.registry``
(model versions). What the run panel shows is computed in ``run_panel``.
"""

import io
import math

import numpy as np
from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import load_only

from model import mnist

from ..core import registry, samples
from ..core.db import TrainingRun, as_utc, db
from ..htmx import is_htmx
from ..reading import pictures
from ..reading.decode import ImageError
from ..reading.uploads import image_bytes
from ..teaching import imports, runs, settings
from . import auth, names, run_panel

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(auth.require_login)
PER_PAGE = 24
MAX_PAGE = 2**31                   # any page past the last shows the last; SQL's OFFSET stays small
MAX_ID = 2**63 - 1                 # the largest row id SQLite and PostgreSQL can hold
ROWS = {"sample_id": _l("There is no sample %(id)s."),
        "run_id": _l("There is no training run %(id)s."),
        "version_id": _l("There is no model version %(id)s.")}


@bp.url_value_preprocessor
def refuse_impossible_ids(endpoint, values):
    """An id past 64 bits names no row: 404, before the database is asked (it cannot bind it)."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and value > MAX_ID:
            abort(404, str(ROWS.get(name, _l("There is no row %(id)s."))) % {"id": value})


def answer(template, status=200, section="", **context):
    """The changed partial for htmx; otherwise back to the dashboard (its message flashed)."""
    if is_htmx():
        return render_template(template, **context), status
    if context.get("error") or context.get("message"):
        flash(context.get("error") or context["message"],
              "error" if context.get("error") else "message")
    return redirect(url_for("admin.dashboard") + (f"#{section}" if section else ""))


@bp.app_template_filter("when")
def when(moment):
    """A stored time as the dashboard shows it: "2026-11-29 01:25 UTC"."""
    if moment is None:
        return ""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


@bp.get("/")
def dashboard():
    return render_template("admin/dashboard.html", **{**data_context(request.args.get(
        "page", 1, type=int)), **train_context(), **models_context()})


def train_refused(status, **context):
    """The train form again, with its errors: the partial for htmx, else the whole page."""
    if is_htmx():
        return render_template("admin/partials/_train.html", **context), status
    return render_template("admin/dashboard.html", **{**data_context(), **context},
                           **models_context()), status


# -- data: MNIST and what users taught -----------------------------------------------------

def mnist_counts():
    """Images per digit in MNIST's training and test sets, read from the label files.

    ``{"train": [10 ints], "test": [10 ints], "directory": path, "missing": [names]}``:
    a split's counts only when its label file is there; ``missing`` names every
    one of the four files a retrain needs that is not. Cached on the app, per
    directory, once all four are there: MNIST never changes.
    """
    directory = mnist.resolve_data_dir(current_app.config["DATA_DIR"])
    cache = current_app.extensions.setdefault("admin_mnist_counts", {})
    if str(directory) in cache:
        return cache[str(directory)]
    missing = [name for name, _ in mnist.FILES.values() if not (directory / name).is_file()]
    result = {"directory": str(directory), "missing": missing}
    for split in ("train", "test"):
        name = mnist.FILES[f"{split}_labels"][0]
        if name not in missing:
            result[split] = np.bincount(mnist.read_idx(directory / name), minlength=10).tolist()
    if not missing:
        cache[str(directory)] = result
    return result


def counts_context():
    return {"mnist": mnist_counts(), "collected": samples.counts(),
            "review_counts": samples.state_counts(), "storage": samples.usage()}


def gallery_context(number):
    """Page ``number`` of the gallery (the last one if there are fewer)."""
    number = min(max(number, 1), MAX_PAGE)
    rows, total = samples.page(number, PER_PAGE)
    pages = max(1, math.ceil(total / PER_PAGE))
    if number > pages:
        number = pages
        rows, total = samples.page(number, PER_PAGE)
    return {"cards": [sample_card(s) for s in rows], "page": number, "pages": pages,
            "total": total}


def sample_card(sample):
    return {"sample": sample, "image_url": pictures.ink_data_url(samples.image(sample) / 255)}


def data_context(number=1):
    return {**counts_context(), **gallery_context(number)}


@bp.get("/samples")
def gallery():
    number = request.args.get("page", 1, type=int)
    if not is_htmx():
        return redirect(url_for("admin.dashboard", page=number) + "#gallery")
    return render_template("admin/partials/_gallery.html", **gallery_context(number))


@bp.post("/samples/<int:sample_id>/label")
def relabel(sample_id):
    try:
        sample = samples.relabel(sample_id, request.form.getlist("label"))
    except samples.SampleError as exc:
        if exc.status == 404:
            return answer("partials/_problem.html", 404, "gallery", error=str(exc),
                          message=str(exc))
        return answer("admin/partials/_sample.html", exc.status, "gallery", error=str(exc),
                      card_error=str(exc), card=sample_card(samples.get(sample_id)))
    return answer("admin/partials/_sample.html", 200, "gallery", oob=True,
                  message=(gettext("Drawing %(id)s is now labelled not a digit. It is accepted: "
                                   "retrains learn it.", id=sample.id)
                           if sample.label == samples.NOT_A_DIGIT else
                           gettext("Drawing %(id)s is now labelled %(label)s. It is accepted: "
                                   "retrains learn it.", id=sample.id, label=sample.label)),
                  card=sample_card(sample), **counts_context())


@bp.post("/samples/<int:sample_id>/delete")
def delete_sample(sample_id):
    number = request.form.get("page", 1, type=int)
    try:
        samples.delete(sample_id)
    except samples.SampleError as exc:
        return answer("admin/partials/_gallery.html", exc.status, "gallery", error=str(exc),
                      gallery_error=str(exc), **data_context(number))
    return answer("admin/partials/_gallery.html", 200, "gallery", oob=True,
                  message=gettext("Drawing %(id)s deleted.", id=sample_id), **data_context(number))


@bp.post("/samples/import")
def import_samples():
    """The operator's own drawings: a .zip (as ``digits samples import``) or one picture with
    the label chosen beside it; stored accepted."""
    try:
        data = image_bytes()
        if data.startswith(b"PK"):
            message = imports.import_zip(io.BytesIO(data)).summary()
        else:
            sample = imports.import_picture(data, request.form.getlist("label"))
            message = f"Drawing {sample.id} imported, accepted."
    except (samples.SampleError, imports.ImportRefused, ImageError) as exc:
        return answer("admin/partials/_gallery.html", getattr(exc, "status", 400), "gallery",
                      error=str(exc), gallery_error=str(exc), **data_context())
    return answer("admin/partials/_gallery.html", 200, "gallery", oob=True,
                  message=message[0].upper() + message[1:] + ".", **data_context())


# -- training ---------------------------------------------------------------------------------

def train_context(form=None, errors=None, refused=None, run=None):
    run = run or runs.latest()
    return {"values": settings.form_values(form), "errors": errors or {}, "refused": refused,
            "scratch": settings.FROM_SCRATCH, "run": run_panel.view(run) if run else None,
            "recent": recent(), "serving": run_panel.summary(registry.serving_id()),
            "mnist": mnist_counts()}


@bp.post("/runs")
def start_run():
    if not any(name in request.form for name in settings.FIELDS):
        # Blank fields take the defaults, but a post with none of them is not the Train form.
        return train_refused(400, **train_context(refused=(
            gettext("The request carried none of the training settings: start the run from "
                    "the Train form on the dashboard."))))
    chosen, errors = settings.validate(request.form)
    if errors:
        return train_refused(400, **train_context(request.form, errors))
    try:
        run = runs.start(chosen)
    except runs.RunRefused as exc:
        return train_refused(409, **train_context(request.form, refused=str(exc)))
    return answer("admin/partials/_train.html", 202, "train", started=True,
                  message=gettext("Run %(id)s queued.", id=run.id), **train_context(run=run))


def get_run(run_id):
    run = runs.get(run_id)
    if run is None:
        abort(404, gettext("There is no training run %(id)s.", id=run_id))
    return run


@bp.get("/runs/<int:run_id>")
def show_run(run_id):
    """The run's panel; while it runs the panel polls this, and its last answer ends the polling.

    A poll sends the status it last showed (``?seen=running``): when the status
    has changed, the answer also refreshes the run list out of band, and once
    the run has ended, the models too (it may have made a new version).
    """
    run = get_run(run_id)
    if not is_htmx():
        return redirect(url_for("admin.dashboard") + "#run")
    seen = request.args.get("seen")
    context = {"run": run_panel.view(run), "refresh_runs": bool(seen) and seen != run.status,
               "refresh_models": bool(seen) and run.status not in runs.ACTIVE}
    if context["refresh_runs"]:
        context["recent"] = recent()
    if context["refresh_models"]:
        context.update(models_context())
    return render_template("admin/partials/_run.html", **context)


def recent(limit=10):
    """The latest runs for the list: without their live pictures and curves."""
    return db.session.scalars(
        select(TrainingRun).options(load_only(
            TrainingRun.id, TrainingRun.status, TrainingRun.epoch, TrainingRun.epochs,
            TrainingRun.created, TrainingRun.version_id, TrainingRun.results))
        .order_by(TrainingRun.id.desc()).limit(limit)).all()


@bp.get("/runs")
def recent_runs():
    if not is_htmx():
        return redirect(url_for("admin.dashboard") + "#runs")
    latest = recent()
    newest = f"{latest[0].id}-{latest[0].status}" if latest else "none"
    shown = request.args.get("shown")
    if shown is None:
        return render_template("admin/partials/_runs.html", recent=latest, run=None)
    if shown == newest:
        return "", 204                  # the page's poll: nothing new
    # A run the page has not seen (started by `digits retrain`) or one that ended: the list,
    # its panel (which polls while it runs), the form without a stale "already running",
    # and the models (an ended run may have added one).
    context = train_context()
    return "".join((
        render_template("admin/partials/_runs.html", recent=latest),
        render_template("admin/partials/_run.html", run_oob=True, **context),
        render_template("admin/partials/_train.html", train_oob=True, **context),
        render_template("admin/partials/_models.html", models_oob=True, **models_context())))


@bp.post("/runs/<int:run_id>/cancel")
def cancel_run(run_id):
    get_run(run_id)
    try:
        runs.cancel(run_id)
    except runs.RunRefused as exc:
        return answer("admin/partials/_run.html", 409, "run", error=str(exc),
                      run=run_panel.view(get_run(run_id)), run_error=str(exc))
    return answer("admin/partials/_run.html", 200, "run",
                  message=gettext("Run %(id)s: cancel requested.", id=run_id), run=run_panel.view(get_run(run_id)))


# -- models -----------------------------------------------------------------------------------

def models_context(message=None, error=None):
    serving = registry.serving_id()
    return {"versions": registry.versions(), "serving_id": serving,
            "activations": registry.history()[-6:][::-1],
            "models_message": message, "models_error": error}


def change_model(version_id, action):
    if run_panel.summary(version_id) is None:
        abort(404, gettext("There is no model version %(id)s.", id=version_id))
    try:
        if action == "promote":
            version = registry.promote(version_id, force="force" in request.form)
        else:
            version = registry.rollback(version_id)
    except registry.RegistryError as exc:
        return answer("admin/partials/_models.html", 409, "models", error=str(exc),
                      **models_context(error=str(exc)))
    message = (gettext("Promoted version %(id)s: every server reads with it within a second.",
                       id=version.id) if action == "promote" else
               gettext("Rolled back to version %(id)s: every server reads with it within a "
                       "second.", id=version.id))
    context = models_context(message=message)
    shown_run = request.form.get("run", type=int)     # the run panel the button was in
    if shown_run and runs.get(shown_run):
        context.update(run=run_panel.view(runs.get(shown_run)), run_oob=True)
    return answer("admin/partials/_models.html", 200, "models", message=message, **context)


@bp.get("/models")
def models():
    if not is_htmx():
        return redirect(url_for("admin.dashboard") + "#models")
    return render_template("admin/partials/_models.html", **models_context())


@bp.post("/models/<int:version_id>/promote")
def promote(version_id):
    return change_model(version_id, "promote")


@bp.post("/models/<int:version_id>/rollback")
def rollback(version_id):
    return change_model(version_id, "rollback")


def init_app(app):
    names.init_app(app)
    app.register_blueprint(bp)
