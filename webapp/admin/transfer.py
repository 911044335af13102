"""Take it with you (admin): model versions downloaded and uploaded, the drawings exported.

    GET  /admin/models/<v>.npz        version v's file, as ``model/pretrained.npz`` is written
    GET  /admin/models/<v>/card       its metadata as a model card (a page)
    POST /admin/models/upload         a model file (field ``model``) → a new version, not served
    GET  /admin/samples/export.zip    the collected drawings: PNGs + labels.csv (``?format=idx``:
                                      MNIST idx files)

An upload is read without pickle (``np.load(allow_pickle=False)``, by
``model.loads``); a file that is not a model, has the wrong sizes, or expects
another input than this app feeds is refused with a message (400), and a zip
that would inflate past ``MAX_MODEL_BYTES`` is refused before it is read. The
new version is measured on the MNIST test set (when its files are here) and on
the held-out drawings, so the Models table and Promote can compare it.
"""

import io
import zipfile

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext

import model
from model import mnist

from ..core import registry, samples
from ..htmx import is_htmx
from ..i18n import percent2
from ..teaching import export
from . import auth
from .dashboard import answer, models_context, refuse_impossible_ids

bp = Blueprint("transfer", __name__, url_prefix="/admin")
bp.before_request(auth.require_login)
bp.url_value_preprocessor(refuse_impossible_ids)
MAX_MODEL_BYTES = 64 * 1024 * 1024       # a 784-4096-4096-10 float32 network is ~80 MB unzipped


def allow_model_upload():
    """``before_request``, before any other: the upload may be larger than an image.

    The form parser (and CSRFProtect's look at the form) use the request's own
    limit, so it is raised for this one endpoint before anyone reads the body,
    and only for a multipart body: its file goes to disk, its text fields stay
    capped; a urlencoded body has no cap but the request's.
    """
    if request.endpoint == "transfer.upload_model" and request.mimetype == "multipart/form-data":
        request.max_content_length = MAX_MODEL_BYTES   # text fields keep MAX_FORM_MEMORY_SIZE


@bp.get("/models/<int:version_id>.npz")
def download_model(version_id):
    try:
        data = registry.version_npz(version_id)
    except registry.RegistryError as exc:
        abort(404, str(exc))
    response = current_app.response_class(data, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="digits-model-v{version_id}.npz"')
    return response


@bp.get("/models/<int:version_id>/card")
def model_card(version_id):
    try:
        version = registry.get(version_id)
    except registry.RegistryError as exc:
        abort(404, str(exc))
    net, meta = registry.load_version(version)
    return render_template("admin/model_card.html", version=version, meta=meta,
                           metrics=version.metrics or {}, serving_id=registry.serving_id(),
                           parameters=sum(w.size + b.size for w, b in zip(net.weights,
                                                                           net.biases)))


@bp.post("/models/upload")
def upload_model():
    upload = request.files.get("model")
    if upload is None or not upload.filename:
        return refused(gettext("Choose a model file (.npz) to upload."))
    data = upload.read()
    name = upload.filename.rsplit("/", 1)[-1][:80]
    try:
        check_inflated_size(data, name)
        version = registry.register_upload(data, name, measure)
    except model.CheckpointError as exc:
        return refused(gettext("Not added: %(reason)s", reason=exc))
    accuracy = (version.metrics or {}).get("test_accuracy")
    if accuracy is not None:
        message = gettext("Uploaded %(name)s as version %(version)s (%(sizes)s, %(accuracy)s on "
                          "the MNIST test set). It is not served until you promote it.",
                          name=name, version=version.id, sizes=version.sizes,
                          accuracy=percent2(accuracy))
    else:
        message = gettext("Uploaded %(name)s as version %(version)s (%(sizes)s). It is not "
                          "served until you promote it.",
                          name=name, version=version.id, sizes=version.sizes)
    return answer("admin/partials/_models.html", 200, "models", message=message,
                  **models_context(message=message))


def refused(message):
    if not is_htmx():
        abort(400, message)
    return answer("admin/partials/_models.html", 400, "models", error=message,
                  **models_context(error=message))


def check_inflated_size(data, name):
    """A zip whose members would inflate past ``MAX_MODEL_BYTES`` is refused unread."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            inflated = sum(member.file_size for member in zipped.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise model.CheckpointError(f"{name}: not a .npz file (a zip of arrays)") from None
    if inflated > MAX_MODEL_BYTES:
        raise model.CheckpointError(f"{name}: its arrays would take {inflated >> 20} MiB; "
                                    f"the limit is {MAX_MODEL_BYTES >> 20} MiB")


def measure(net):
    """Test accuracy on MNIST (if its files are here; nothing is downloaded) and on the
    held-out drawings, as a retrain's version is measured."""
    metrics = {"test_accuracy": None, "val_accuracy": None, "held_out_accuracy": None,
               "held_out_n": 0}
    try:
        data = mnist.load(current_app.config["DATA_DIR"], download=False)
    except mnist.DataError:
        data = None
    if data is not None:
        predicted = net.predict(model.inputs(net, data["test_images"]))
        metrics["test_accuracy"] = float((predicted == data["test_labels"]).mean())
    images, labels = samples.held_out_set()
    if len(labels):
        predicted = net.predict(model.inputs(net, images))
        metrics.update(held_out_accuracy=float((predicted == labels).mean()),
                       held_out_n=int(len(labels)))
    return metrics


@bp.get("/samples/export.zip")
def export_samples():
    fmt = request.args.get("format", "png")
    try:
        data, count = export.archive(fmt)
    except ValueError as exc:
        abort(400, str(exc))
    response = current_app.response_class(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="digits-samples-{count}-{fmt}.zip"')
    return response


def init_app(app):
    # First of all before_request functions: CSRFProtect reads the form too.
    app.before_request_funcs.setdefault(None, []).insert(0, allow_model_upload)
    app.register_blueprint(bp)
