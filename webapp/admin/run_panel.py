"""A training run as the dashboard's run panel shows it: progress, ETA, curves, pictures, results.

``view(run)`` turns a ``TrainingRun`` row, as the worker wrote it, into what
``templates/admin/partials/_run.html`` draws: the curves' geometry (from
``charts``), the tracked units' weights and the worst mistakes as PNG data
URLs (``pictures``), and the comparison with the serving model.
"""

import base64

import numpy as np
from flask_babel import gettext
from sqlalchemy.orm import defer

from model import mnist

from ..core import registry
from ..core.db import ModelVersion, TrainingRun, db
from ..reading import pictures
from ..teaching import runs
from . import charts, names


def summary(version_id):
    """A model version without its weights (the dashboard shows, never loads, them), or None."""
    return db.session.get(ModelVersion, version_id, options=[defer(ModelVersion.weights)])


def view(run: TrainingRun):
    """A run as the panel shows it: its progress, ETA, curves, unit pictures and results."""
    history = run.history or []
    active = run.status in runs.ACTIVE
    seconds = [h["seconds"] for h in history if h.get("seconds") is not None]
    eta = (sum(seconds) / len(seconds)) * max(run.epochs - run.epoch, 0) if seconds else None
    serving = summary(registry.serving_id())
    return {"row": run, "active": active, "history": history,
            "phase": names.run_phase(run.phase, run.epoch or 0, run.epochs),
            "progress": min(max(float(run.progress or 0), 0.0), 1.0),
            "eta": duration(eta) if active and eta is not None else None,
            "loss_chart": charts.loss_chart(history, run.epochs) if history else None,
            "accuracy_chart": (charts.accuracy_chart(history, run.epochs,
                                                     accuracy_reference(run, serving))
                               if history else None),
            "units": unit_pictures(run.units or []),
            "results": results_view(run.results) if run.results else None,
            "settings": run.settings or {}, "serving": serving}


def accuracy_reference(run, serving):
    """The validation accuracy to beat: the version the run fine-tuned, else the serving one."""
    start = (run.results or {}).get("start_version")
    if start:
        version, name = summary(start), gettext("start (v%(version)s)", version=start)
    elif serving.id != run.version_id:
        version, name = serving, gettext("serving (v%(version)s)", version=serving.id)
    else:
        return None
    value = ((version.metrics or {}) if version else {}).get("val_accuracy")
    return (name, value) if value is not None else None


def duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return gettext("%(seconds)s s", seconds=seconds)
    return gettext("%(minutes)s min %(seconds)s s", minutes=seconds // 60,
                   seconds=format(seconds % 60, "02d"))


def unit_pictures(units, columns=6):
    """The tracked hidden units' incoming weights at up to ``columns`` epochs, first to latest."""
    if not units:
        return None
    count = min(columns, len(units))
    picks = sorted({round(i * (len(units) - 1) / max(count - 1, 1)) for i in range(count)})
    shown = [units[i] for i in picks]
    rows = []
    for row, unit in enumerate(shown[-1]["units"]):
        rows.append({"unit": unit, "pictures": [
            pictures.weights_data_url(np.asarray(entry["weights"][row], dtype=np.float32)
                                      .reshape(28, 28)) if row < len(entry["weights"]) else None
            for entry in shown]})
    return {"epochs": [entry["epoch"] for entry in shown], "rows": rows}


def results_view(results):
    worst = []
    for mistake in results.get("worst", []):
        pixels = np.frombuffer(base64.b64decode(mistake["pixels"]), np.uint8)
        worst.append({**mistake, "image_url": pictures.ink_data_url(
            pixels.reshape(28, 28) / 255)})
    confusion = results.get("confusion")
    per_class = results.get("per_class") or []
    return {**results, "worst": worst, "per_class": per_class,
            "validation_size": mnist.VALIDATION_SIZE,
            "per_class_low": charts.columns_floor(per_class),
            "heatmap": charts.heatmap(confusion) if confusion else None,
            "seconds_text": duration(results["seconds"]) if results.get("seconds") else None}
