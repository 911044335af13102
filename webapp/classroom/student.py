"""The students' side of a class: join with the code, draw, correct, share a drawing.

    GET  /join                          type the code (or scan the board's QR code)
    GET  /class/<code>                  the join page: an optional nickname
    POST /class/<code>/join             join (no account; the session remembers the class)
    GET  /class/<code>/draw             the draw page, reading with the class's model
    POST /class/<code>/predict          the live reading; a finished stroke goes to the board
    POST /class/<code>/corrections      "It was a N": a sample tagged with the class
    GET  /class/<code>/status           204 while the class is open; the "ended" notice after
    POST /class/<code>/share/<sample>   a link to one of the student's own saved drawings
    GET  /class/<code>/shared/<token>   a shared drawing: the class, the teacher, or anyone
                                        once the teacher published it

A student is the signed session's ``student`` entry ``{"class": code, "id": n}``,
so a reading needs no database: the class's state comes from
``models.class_models()``, which reads it at most once a second. Every view
refuses a browser that did not join this class (403), a class that does not
exist (404) and one that has ended (410). State changes carry the page's CSRF
token like every form of the site.
"""

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext

from .. import errors
from ..core import samples
from ..core.db import db
from ..core.served import turns
from ..htmx import is_htmx, vary_on_htmx
from ..reading import corrections, readout, why
from ..reading.decode import ImageError
from ..reading.normalise import read_digit
from ..reading.uploads import image_bytes
from . import lessons, sharing
from .lessons import ClassError
from .models import class_models, model_for, speak_the_class_language

bp = Blueprint("classroom", __name__)
bp.before_request(speak_the_class_language)
bp.after_request(vary_on_htmx)


def open_class(code):
    """The class ``code``'s state (from memory, a second old at most); 404 if none."""
    state = class_models().state(lessons.normalise_code(code))
    if state is None:
        raise ClassError(gettext("There is no class with the code %(code)s: check the code on "
                                 "the board.", code=repr(code[:16])), 404)
    return state


def member(code, open_only=True):
    """``(state, student id)`` for a browser that joined class ``code``; 403 otherwise."""
    state = open_class(code)
    joined = session.get("student") or {}
    if joined.get("class") != state.code or not isinstance(joined.get("id"), int):
        raise ClassError(gettext("This page is for the students of another class: join this "
                                 "one with its code first."), 403)
    if open_only and state.over:
        raise ClassError(gettext("This class has ended: thank you for drawing. Your teacher may "
                                 "start another."), 410)
    return state, joined["id"]


@bp.get("/join")
def find():
    code = request.args.get("code")
    if code is None:
        return render_template("classroom/find.html")
    state = class_models().state(lessons.normalise_code(code))
    if state is None:
        return render_template("classroom/find.html", code=code[:16],
                               problem=gettext("There is no class with that code: check it "
                                               "on the board.")), 404
    return redirect(url_for("classroom.join_page", code=state.code))


@bp.get("/class/<code>")
def join_page(code):
    state = open_class(code)
    if state.over:
        return render_template("classroom/ended.html", state=state), 410
    joined = session.get("student") or {}
    if joined.get("class") == state.code:
        return redirect(url_for("classroom.draw", code=state.code))
    return render_template("classroom/join.html", state=state)


@bp.post("/class/<code>/join")
def join(code):
    state = open_class(code)
    try:
        classroom = lessons.by_code(state.code)
        student = lessons.join(classroom, request.form.getlist("nickname"))
    except ClassError as exc:
        if exc.status == 410:
            return render_template("classroom/ended.html", state=state), 410
        return render_template("classroom/join.html", state=state, problem=str(exc),
                               nickname=request.form.get("nickname", "")[:40]), exc.status
    session["student"] = {"class": state.code, "id": student.id}
    return redirect(url_for("classroom.draw", code=state.code))


@bp.get("/class/<code>/draw")
def draw(code):
    try:
        state, _ = member(code)
    except ClassError as exc:
        if exc.status == 410:
            return render_template("classroom/ended.html", state=open_class(code)), 410
        raise
    return render_template("classroom/draw.html", state=state, class_code=state.code,
                           r=readout.quiet(model_for(state), "blank", ""))


def reading_failed(message):
    return readout.render_fragment(readout.failed(message))


@bp.post("/class/<code>/predict")
@errors.htmx_fragment(reading_failed)
def predict(code):
    state, student_id = member(code)
    request.get_data(cache=True)                # read the body before taking a turn
    loaded = model_for(state)
    seq = max(0, request.form.get("seq", 0, type=int))
    finished = request.form.get("final") == "1"
    status, digit = 200, None
    with turns():
        try:
            digit = read_digit(image_bytes())
            reading = None if digit.image is None else loaded.read(digit.image)
            result = readout.read(loaded, digit, current_app.config["UNSURE_BELOW"], seq,
                                  reading)
        except ImageError as exc:
            result, status = readout.quiet(loaded, "error", str(exc), seq), exc.status
            reading = None
        html = None
        if is_htmx():           # the "Why this answer" panels too, when the page asks
            html = readout.render_fragment(result, class_code=state.code) + (
                why.live_panels(loaded, reading) if status == 200 else "")
    if html is None:
        response = current_app.make_response((render_template(
            "classroom/draw.html", state=state, class_code=state.code, r=result), status))
    else:
        response = current_app.make_response((html, status))
    if finished and digit is not None and digit.image is not None:
        # To the board once the student has the answer: the write never delays a reading.
        after_answer(response, lessons.record_latest, state.id, student_id,
                     samples.to_pixels(digit.image), result.digit, result.confidence,
                     loaded.version)
    return response


def after_answer(response, write, *args):
    """Run ``write(*args)`` in the app's context once ``response`` has been sent."""
    app = current_app._get_current_object()

    def run():
        with app.app_context():
            try:
                write(*args)
            except Exception:           # the database busy or gone: the board misses one
                app.logger.exception("class board: could not record a drawing")
            finally:
                db.session.remove()

    response.call_on_close(run)


def teach_row(problem):
    return render_template("partials/_teach.html", problem=problem)


@bp.post("/class/<code>/corrections")
@errors.htmx_fragment(teach_row)
def correct(code):
    state, student_id = member(code)
    try:
        label = samples.parse_label(request.form.getlist("label"))
        sample = corrections.add(image_bytes(), label, source="class", loaded=model_for(state),
                                 budget_key=f"class {state.id} student {student_id}",
                                 classroom_id=state.id, student_id=student_id,
                                 state="accepted")
    except samples.SampleError as exc:
        return teach_row(str(exc)), exc.status
    return render_template("partials/_teach.html", saved=sample, class_code=state.code)


@bp.get("/class/<code>/status")
def status(code):
    """Polled by the class's draw page: nothing while the class runs; once it is over, the
    notice (and 286, which tells htmx to stop polling)."""
    state = open_class(code)
    if not state.over:
        return "", 204
    return render_template("classroom/partials/_ended.html", state=state), 286


@bp.post("/class/<code>/share/<int:sample_id>")
def share(code, sample_id):
    state, student_id = member(code)
    sample = lessons.class_sample(state.id, sample_id)
    if sample.student_id != student_id:
        raise ClassError(gettext("You can share your own drawings only."), 403)
    shared = sharing.share(sample)
    return render_template("classroom/partials/_share_link.html", shared=shared,
                           state=state)


@bp.get("/class/<code>/shared/<token>")
def shared(code, token):
    state = open_class(code)
    drawing = sharing.get(state.id, token)
    joined = session.get("student") or {}
    if not (drawing.published or joined.get("class") == state.code
            or sharing.teacher_logged_in()):
        raise ClassError(gettext("This drawing is shared with its class only: join the class "
                                 "to see it."), 403)
    return render_template("classroom/shared.html", state=state, drawing=drawing,
                           view=sharing.view(drawing))


def init_app(app):
    app.register_error_handler(ClassError, errors.handle_with_status)
    app.register_blueprint(bp)
