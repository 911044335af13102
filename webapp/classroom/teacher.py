"""The teacher's side of a class, in the admin: start it, show the board, review, teach, end.

    GET  /admin/classes/                      the classes, and "Start a class"
    POST /admin/classes/                      start one → its page
    GET  /admin/classes/<code>/               the class: join code, link, QR code, the
                                              corrections to review, Teach, End, Delete
    GET  /admin/classes/<code>/board          the board for the projector
    GET  /admin/classes/<code>/wall           its live part (polled; 204 when unchanged)
    GET  /admin/classes/<code>/corrections    the review list (polled; 204 when unchanged)
    GET  /admin/classes/<code>/students/<n>   a student's latest drawing, large, with its bars
    GET  /admin/classes/<code>/samples/<n>    a correction, large
    POST /admin/classes/<code>/samples/<n>    accept or reject it (``review``)
    GET|POST /admin/classes/<code>/teach      "Teach it our handwriting" and its progress
    POST /admin/classes/<code>/end | delete | language
    POST /admin/classes/<code>/shared/<token> publish or unpublish a shared drawing
    GET  /admin/classes/<code>/drawings.zip | model.npz

Teachers are the admins: every view here needs the admin's login
(``auth.require_login``, which also refuses cross-site and non-form state
changes; CSRFProtect checks every POST's token).
"""

import re

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from ..admin import auth, names
from ..core import registry
from ..core.db import ClassStudent, TrainingRun, db
from ..htmx import is_htmx
from ..teaching import runs
from ..teaching.settings import CLASS_TEACH
from . import board, export, lessons, sharing
from .lessons import ClassError
from .models import class_models, model_for, read_state, speak_the_class_language

bp = Blueprint("classes", __name__, url_prefix="/admin/classes")
bp.before_request(auth.require_login)
bp.before_request(speak_the_class_language)
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?")


@bp.context_processor
def run_words():
    """The teach panel names a run's phase in the page's language, as the dashboard does."""
    return {"run_phase": names.run_phase}


@bp.app_template_filter("class_ink")
def class_ink(pixels):
    """A stored drawing's 784 bytes → its picture as a PNG data URL."""
    return board.ink(pixels)


def get_class(code):
    return lessons.by_code(code)


def changed(classroom):
    class_models().forget(classroom.code)


@bp.get("/")
def index():
    return render_template("classroom/classes.html", classes=lessons.recent(),
                           is_over=lessons.is_over)


@bp.post("/")
def start():
    try:
        classroom = lessons.start(request.form.get("name", ""),
                                  request.form.get("minutes") or lessons.LESSON_MINUTES,
                                  parse_language(request.form.get("language")))
    except ClassError as exc:
        return render_template("classroom/classes.html", classes=lessons.recent(),
                               is_over=lessons.is_over, problem=str(exc)), exc.status
    return redirect(url_for("classes.page", code=classroom.code))


def parse_language(value):
    value = (value or "").strip()
    if not value:
        return None
    if not LANGUAGE_TAG.fullmatch(value):
        raise ClassError(gettext("A class's language is a language tag such as en, es or "
                                 "zh_Hans."))
    return value


def context(classroom):
    return {"classroom": classroom, "over": lessons.is_over(classroom),
            "join_url": url_for("classroom.join_page", code=classroom.code, _external=True),
            "qr": export.qr_data_uri(url_for("classroom.join_page", code=classroom.code,
                                             _external=True))}


@bp.get("/<code>/")
def page(code):
    classroom = get_class(code)
    return render_template("classroom/teacher.html",
                           **{**context(classroom), **review_context(classroom)},
                           run=latest_teach(classroom), shared=sharing.of_class(classroom.id))


@bp.get("/<code>/board")
def board_page(code):
    classroom = get_class(code)
    return render_template("classroom/board.html",
                           **{**context(classroom), **wall_context(classroom)})


def wall_context(classroom):
    return {"classroom": classroom, "stamp": lessons.stamp(classroom.id),
            "tiles": board.wall(lessons.students(classroom.id)),
            "scores": board.scores(classroom.id), "over": lessons.is_over(classroom)}


def review_context(classroom):
    return {"classroom": classroom, "stamp": lessons.stamp(classroom.id),
            "corrections": lessons.corrections(classroom.id, limit=60),
            "names": {s.id: s.nickname or gettext("Student %(id)s", id=s.id)
                      for s in lessons.students(classroom.id)}}


def unchanged(classroom):
    """A poll that already shows the class as it is now: answer 204, render nothing."""
    return request.args.get("since") == lessons.stamp(classroom.id)


@bp.get("/<code>/wall")
def wall(code):
    classroom = get_class(code)
    if unchanged(classroom):
        return "", 204
    return render_template("classroom/partials/_wall.html", **wall_context(classroom))


@bp.get("/<code>/corrections")
def corrections(code):
    classroom = get_class(code)
    if unchanged(classroom):
        return "", 204
    return render_template("classroom/partials/_corrections.html", **review_context(classroom))


@bp.get("/<code>/students/<int:student_id>")
def student_close_up(code, student_id):
    classroom = get_class(code)
    student = lessons.student_of(classroom.id, student_id)
    if student is None or student.latest_pixels is None:
        raise ClassError(gettext("That student has not drawn anything yet."), 404)
    return render_close_up(classroom, student.latest_pixels, student.latest_version,
                           title=student.nickname or gettext("Student %(id)s", id=student.id))


@bp.get("/<code>/samples/<int:sample_id>")
def sample_close_up(code, sample_id):
    classroom = get_class(code)
    sample = lessons.class_sample(classroom.id, sample_id)
    student = db.session.get(ClassStudent, sample.student_id) if sample.student_id else None
    return render_close_up(classroom, sample.pixels, sample.model_version,
                           title=(student.nickname if student else "") or "A correction",
                           label=sample.label)


def render_close_up(classroom, pixels, version, title, label=None):
    loaded = sharing.loaded_or_none(version) or model_for(read_state(classroom.code))
    template = "classroom/partials/_close_up.html" if is_htmx() else "classroom/close_up.html"
    r, explained = sharing.close_up(pixels, loaded)
    return render_template(template, classroom=classroom, title=title, label=label,
                           picture=board.ink(pixels), r=r, why=explained)


@bp.post("/<code>/samples/<int:sample_id>")
def review(code, sample_id):
    classroom = get_class(code)
    lessons.review(classroom.id, sample_id, request.form.get("review", ""))
    if is_htmx():
        return render_template("classroom/partials/_corrections.html",
                               **review_context(classroom))
    return redirect(url_for("classes.page", code=classroom.code) + "#corrections")


def latest_teach(classroom):
    run_id = db.session.scalar(select(TrainingRun.id)
                               .where(TrainingRun.classroom_id == classroom.id)
                               .order_by(TrainingRun.id.desc()).limit(1))
    return runs.get(run_id) if run_id else None


def teach_panel(classroom, problem=None, status=200):
    run = latest_teach(classroom)
    return render_template("classroom/partials/_teach_run.html", classroom=classroom, run=run,
                           problem=problem, version=classroom.model_version_id), status


@bp.route("/<code>/teach", methods=["GET", "POST"])
def teach(code):
    classroom = get_class(code)
    if request.method == "GET":
        runs.reap_stale()
        return teach_panel(classroom)
    if not lessons.teachable(classroom.id):
        return teach_panel(classroom, status=409, problem=gettext(
            "There is nothing to learn from yet: the students' accepted corrections (those "
            "not kept back to measure it) teach it. Have them draw and say which digit they "
            "meant, then press it again."))
    try:
        runs.start(CLASS_TEACH, classroom_id=classroom.id)
    except runs.RunRefused as exc:
        return teach_panel(classroom, problem=str(exc), status=409)
    if not is_htmx():
        return redirect(url_for("classes.page", code=classroom.code) + "#teach")
    return teach_panel(classroom)


@bp.post("/<code>/end")
def end(code):
    classroom = lessons.end(get_class(code))
    changed(classroom)
    return redirect(url_for("classes.page", code=classroom.code))


@bp.post("/<code>/delete")
def delete(code):
    classroom = get_class(code)
    if lessons.normalise_code(request.form.get("confirm")) != classroom.code:
        raise ClassError(gettext("To delete the class, type its code %(code)s to confirm.",
                                 code=classroom.code))
    lessons.delete(classroom)
    changed(classroom)
    return redirect(url_for("classes.index"))


@bp.post("/<code>/language")
def language(code):
    classroom = get_class(code)
    classroom.language = parse_language(request.form.get("language"))
    db.session.commit()
    changed(classroom)
    return redirect(url_for("classes.page", code=classroom.code))


@bp.post("/<code>/shared/<token>")
def publish(code, token):
    classroom = get_class(code)
    sharing.publish(classroom.id, token, request.form.get("published") == "1")
    return redirect(url_for("classes.page", code=classroom.code) + "#shared")


@bp.get("/<code>/drawings.zip")
def drawings(code):
    classroom = get_class(code)
    return Response(export.drawings_zip(classroom), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="class-{classroom.code}-drawings.zip"'})


@bp.get("/<code>/model.npz")
def model_file(code):
    classroom = get_class(code)
    if classroom.model_version_id is None:
        abort(404, gettext("The class has no model of its own yet: press “Teach it our "
                           "handwriting” first."))
    version = registry.get(classroom.model_version_id)
    return Response(version.weights, mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="class-{classroom.code}-model-'
                               f'v{version.id}.npz"'})


def init_app(app):
    app.register_blueprint(bp)
