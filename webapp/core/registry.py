"""Model versions: register, list, promote and roll back; the shipped model is version 1.

Versions live in the database (the ``.npz`` bytes, their SHA-256, metadata and
metrics) and one row names the version being served, so every web process on
every host serves the same one (``served`` follows that row). The dashboard and
the ``digits models`` commands both call these functions.
"""

import hashlib
from pathlib import Path

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.orm import defer

import model
from model import train

from .db import Activation, ModelVersion, Serving, db, schema_lock, utcnow


class RegistryError(ValueError):
    """A refused change; ``str()`` says why and what to do instead."""


def sizes_label(sizes):
    return "-".join(str(s) for s in sizes)


def check_network(net, name):
    """A network the app can serve: 784 inputs, 10 outputs; raises ``model.CheckpointError``."""
    if net.sizes[0] != 784 or net.sizes[-1] != 10:
        raise model.CheckpointError(f"{name}: sizes {net.sizes} do not read 28×28 digits "
                                    "(need 784 inputs and 10 outputs)")


def register(net, meta, metrics, origin, run_id=None, commit=True):
    """Store ``net`` as a new version (not yet served) and return it.

    ``commit=False`` only flushes the row (the version has its number): the caller
    commits it together with what else must be stored with it, or rolls both back.
    """
    weights = model.dumps(net, meta)
    net, meta = model.loads(weights, name=origin)          # what is stored must load
    check_network(net, origin)
    version = ModelVersion(weights=weights, sha256=hashlib.sha256(weights).hexdigest(),
                           sizes=sizes_label(net.sizes), meta=meta, metrics=metrics,
                           origin=origin, run_id=run_id)
    db.session.add(version)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return version


def load_version(version):
    """``(net, meta)`` of a stored version, after checking its checksum and contents."""
    name = f"model version {version.id}"
    if hashlib.sha256(version.weights).hexdigest() != version.sha256:
        raise model.CheckpointError(f"{name}: its weights do not match their SHA-256")
    net, meta = model.loads(version.weights, name=name)
    check_network(net, name)
    return net, meta


def version_npz(version_id):
    """The ``.npz`` bytes of version ``version_id``, as ``model/pretrained.npz`` is written.

    Arrays plus the JSON ``metadata`` (sizes, preprocessing, training settings,
    metrics, data checksums, date): ``model.load`` reads it back. Checked
    against its SHA-256 first; raises ``RegistryError`` for an unknown version.
    """
    version = get(version_id)
    load_version(version)
    return version.weights


# The input a model must expect: what ``model.train`` writes into every checkpoint, and
# the same contract in the words of the shipped model's older train.py.
INPUT_CONTRACTS = (train.INPUT_CONTRACT,
                   "28x28 MNIST-normalised, white ink on black, scaled to [0, 1]")


def check_contract(meta, name):
    """A model that says it reads another input than this app feeds is a ``CheckpointError``.

    ``preprocessing.input`` is written by ``model.train``; a file saved by
    ``model.save`` alone does not say, and its format implies this app's input.
    """
    said = (meta.get("preprocessing") or {}).get("input")
    if said is not None and said not in INPUT_CONTRACTS:
        raise model.CheckpointError(f"{name}: its metadata says it reads {str(said)[:80]!r}; "
                                    f"this app feeds {train.INPUT_CONTRACT!r}")


def register_upload(data, name, measure):
    """A model file sent by an operator → a new version (not served), or ``CheckpointError``.

    ``model.loads`` reads it without pickle (``allow_pickle=False``) and checks
    its keys, shapes, dtypes and finiteness against its metadata; it must also
    read 28×28 digits (``check_network``) the way this app prepares them
    (``check_contract``). ``measure(net)`` gives its metrics.
    """
    net, meta = model.loads(data, name=name)
    check_network(net, name)
    check_contract(meta, name)
    return register(net, meta, measure(net), origin=f"upload {name}"[:64])


def ensure_initial(path):
    """In an empty registry, make the model file at ``path`` version 1 and serve it.

    Called under ``db.schema_lock`` at start, so concurrent first starts add it once.
    """
    if db.session.scalar(select(ModelVersion.id).limit(1)) is not None:
        return
    path = Path(path)
    weights = path.read_bytes()
    net, meta = model.loads(weights, name=str(path))
    check_network(net, str(path))
    metrics = {"test_accuracy": meta.get("metrics", {}).get("test_accuracy"),
               "val_accuracy": meta.get("metrics", {}).get("val_accuracy")}
    # No explicit id: PostgreSQL's sequence would not know about it. The first
    # row of an empty table is 1.
    version = ModelVersion(weights=weights, sha256=hashlib.sha256(weights).hexdigest(),
                           sizes=sizes_label(net.sizes), meta=meta, metrics=metrics,
                           origin="shipped" if path == model.PRETRAINED else path.name)
    db.session.add(version)
    db.session.flush()
    db.session.add(Serving(id=1, version_id=version.id))
    db.session.add(Activation(version_id=version.id, action="initial"))
    db.session.commit()


def serving_id(session=None):
    """The number of the version being served (through ``session``, default ``db.session``)."""
    return (session or db.session).scalar(select(Serving.version_id).where(Serving.id == 1))


def versions():
    """Every version, newest first, without loading their weights."""
    return db.session.scalars(select(ModelVersion).options(defer(ModelVersion.weights))
                              .order_by(ModelVersion.id.desc())).all()


def get(version_id):
    # A number past the databases' 64-bit integers is no version either (not an overflow).
    version = db.session.get(ModelVersion, version_id) if 0 < version_id < 2**63 else None
    if version is None:
        raise RegistryError(gettext("There is no model version %(id)s.", id=version_id))
    return version


def history():
    """Every change of the serving version, oldest first."""
    return db.session.scalars(select(Activation).order_by(Activation.id)).all()


def activate(version, action, forced=False):
    """Serve ``version`` from now on (every process follows within a second)."""
    load_version(version)                                   # refuse what cannot be served
    db.session.execute(update(Serving).where(Serving.id == 1)
                       .values(version_id=version.id, changed=utcnow()))
    db.session.add(Activation(version_id=version.id, action=action, forced=forced))
    db.session.commit()
    current_app.logger.info("%s: now serving model version %d", action, version.id)
    return version


def promote(version_id, force=False):
    """Serve ``version_id``, unless its test accuracy is too far below the serving model's."""
    version = get(version_id)
    current = get(serving_id())
    if version.id == current.id:
        raise RegistryError(gettext("Model version %(id)s is already being served.",
                                    id=version.id))
    reason = needs_force(version, current)
    if reason and not force:
        raise RegistryError(reason)
    return activate(version, "promote", forced=force)


def needs_force(version, current=None):
    """Why promoting ``version`` over ``current`` (default: the serving one) needs force, or None.

    Its MNIST test accuracy must be within ``PROMOTE_MARGIN`` of the serving model's.
    """
    current = current or get(serving_id())
    margin = float(current_app.config["PROMOTE_MARGIN"])
    new, old = (version.metrics or {}).get("test_accuracy"), (current.metrics or {}).get(
        "test_accuracy")
    if new is not None and old is not None and new < old - margin:
        return gettext(
            "Model version %(id)s reads %(new)s of the MNIST test set, more than %(margin)s "
            "below version %(current)s's %(old)s; promote it with force if you are sure.",
            id=version.id, new=format(new, ".2%"), margin=format(margin, ".1%"),
            current=current.id, old=format(old, ".2%"))
    return None


def rollback(version_id=None):
    """Serve an earlier version again: ``version_id``, else the one served before this one."""
    current = serving_id()
    if version_id is None:
        earlier = [a.version_id for a in history() if a.version_id != current]
        if not earlier:
            raise RegistryError(gettext("There is no earlier version to roll back to."))
        version_id = earlier[-1]
    version = get(version_id)
    if version.id == current:
        raise RegistryError(gettext("Model version %(id)s is already being served.",
                                    id=version.id))
    return activate(version, "rollback")


def init_app(app):
    with app.app_context():
        with schema_lock(app):
            ensure_initial(app.config["MODEL"] or model.PRETRAINED)
        db.session.remove()
        db.engine.dispose()
