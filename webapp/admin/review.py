"""The review queue, ``/admin/review``: new samples, the suspicious first, accepted or rejected.

    GET  /admin/review[?reason=…&client=…&page=N]   the queue (teaching.review ranks it)
    POST /admin/review/<id>   action=accept|reject|undo   one sample (keys a / r / u)
    POST /admin/review/page                         the samples shown (``ids``; keys A / R)
    POST /admin/review/all                          every new sample matching the filter

Each action answers htmx with what it changed (the sample's card, or the
queue) and the counts out of band; a plain form post is redirected back to
the queue. ``static/review.js`` adds the keys (j / k to move). Everything
needs the admin's login, and every POST its CSRF token.
"""

import math

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l

from ..core import samples
from ..htmx import is_htmx
from ..reading import pictures
from ..teaching import review
from . import auth
from .dashboard import refuse_impossible_ids

bp = Blueprint("review", __name__, url_prefix="/admin/review")
bp.before_request(auth.require_login)
bp.url_value_preprocessor(refuse_impossible_ids)
PER_PAGE = 25
ACTIONS = {"accept": samples.ACCEPTED, "reject": samples.REJECTED, "undo": samples.NEW}
DONE = {samples.ACCEPTED: _l("accepted"), samples.REJECTED: _l("rejected"),
        samples.NEW: _l("back in the queue")}


def filters(source):
    """The queue's filter from a query or form: ``{"reason", "client"}`` (unknown reasons
    are dropped, a client key is hex of at most 32 characters)."""
    reason = source.get("reason", "")
    client = source.get("client", "").strip().lower()
    return {"reason": reason if reason in review.KINDS or reason == "clean" else "",
            "client": client if len(client) <= 32 and all(c in "0123456789abcdef"
                                                             for c in client) else ""}


def card(flagged):
    sample = flagged.sample
    return {"flagged": flagged, "sample": sample,
            "label": gettext("not a digit") if sample.label == samples.NOT_A_DIGIT else sample.label,
            "image_url": pictures.ink_data_url(samples.image(sample) / 255)}


def queue_context(chosen, number=1, message=None, error=None):
    flagged = review.ranked(chosen["reason"] or None, chosen["client"] or None)
    pages = max(1, math.ceil(len(flagged) / PER_PAGE))
    number = min(max(number, 1), pages)
    shown = flagged[(number - 1) * PER_PAGE:number * PER_PAGE]
    return {"cards": [card(f) for f in shown], "matching": len(flagged), "page": number,
            "pages": pages, "filters": chosen, "kinds": review.KINDS,
            "counts": samples.state_counts(), "message": message, "error": error}


def answer_queue(chosen, message=None, error=None, status=200, number=1):
    if not is_htmx():
        return redirect(url_for("review.queue", **{k: v for k, v in chosen.items() if v}))
    return render_template("admin/partials/_review.html",
                           **queue_context(chosen, number, message, error)), status


@bp.get("/")
def queue():
    chosen = filters(request.args)
    context = queue_context(chosen, request.args.get("page", 1, type=int))
    if is_htmx():
        return render_template("admin/partials/_review.html", **context)
    return render_template("admin/review.html", **context)


def one(form, name, default=""):
    """A form field sent at most once (two actions or filters in one post are refused)."""
    values = form.getlist(name)
    if len(values) > 1:
        abort(400, gettext("The field %(field)s came more than once: send it once.",
                           field=repr(name)))
    return values[0] if values else default


def action_of(form, allowed=("accept", "reject")):
    action = one(form, "action")
    if action not in allowed:
        abort(400, gettext("Choose what to do: %(actions)s.",
                           actions=gettext(" or ").join(allowed)))
    return action, ACTIONS[action]


def posted_filters(form):
    return filters({name: one(form, name) for name in ("reason", "client")})


@bp.post("/<int:sample_id>")
def decide(sample_id):
    """Accept, reject or put back (``action``) one sample; answers with its card so."""
    _action, state = action_of(request.form, tuple(ACTIONS))
    try:
        sample = samples.get(sample_id)
    except samples.SampleError as exc:
        abort(404, str(exc))
    samples.set_state(state, ids=[sample_id])
    if not is_htmx():
        return redirect(url_for("review.queue", **posted_filters(request.form)))
    decided = review.Flagged(samples.get(sample.id))
    return render_template("admin/partials/_review_item.html", decided=True,
                           done=DONE[state], card=card(decided),
                           counts=samples.state_counts(), oob_counts=True)


@bp.post("/page")
def decide_page():
    """The samples shown on the page (their ids), all accepted or all rejected."""
    _action, state = action_of(request.form)
    raw = request.form.getlist("ids")
    if not raw or not all(i.isascii() and i.isdigit() and len(i) < 19 for i in raw):
        abort(400, gettext("Send the ids of the samples on the page, each a whole number."))
    changed = samples.set_state(state, ids=[int(i) for i in raw], only_new=True)
    return answer_queue(posted_filters(request.form), changed_message(state, changed))


@bp.post("/all")
def decide_all():
    """Every new sample matching the queue's filter (the number shown must still hold)."""
    _action, state = action_of(request.form)
    chosen = posted_filters(request.form)
    expected = one(request.form, "expected")
    if expected and not (expected.isascii() and expected.isdigit() and len(expected) < 10):
        abort(400, gettext("The field 'expected' must be the number of samples shown as "
                           "matching."))
    matching = [f.sample.id for f in review.ranked(chosen["reason"] or None,
                                                   chosen["client"] or None)]
    if expected and int(expected) != len(matching):
        return answer_queue(chosen, error=gettext(
            "The queue changed: %(now)s samples match now, not %(expected)s. Look again, then "
            "choose.", now=len(matching), expected=expected), status=409)
    changed = samples.set_state(state, ids=matching, only_new=True)
    return answer_queue(chosen, changed_message(state, changed))


def changed_message(state, changed):
    """ "3 samples accepted." in the page's language."""
    if state == samples.ACCEPTED:
        return ngettext("%(num)s sample accepted.", "%(num)s samples accepted.", changed)
    return ngettext("%(num)s sample rejected.", "%(num)s samples rejected.", changed)


def init_app(app):
    app.register_blueprint(bp)
