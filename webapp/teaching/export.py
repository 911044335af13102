"""The collected drawings, to take away: a zip of PNGs with a labels CSV, or MNIST idx files.

Both hold each sample's 28×28 image as stored (MNIST's own form: white ink on
black, centred by mass, before any deskewing), in the order of the samples'
ids, so a script written for MNIST reads the idx pair as it is and the CSV
names every PNG's label. The dashboard's download links and ``digits samples
export`` both call ``archive``.
"""

import csv
import io
import zipfile

import numpy as np
from PIL import Image
from sqlalchemy import select

from model import mnist

from ..core.db import Sample, db

FORMATS = ("png", "idx")
CSV_FIELDS = ("file", "id", "label", "predicted", "model_version", "source", "held_out",
              "created")
IDX_NAMES = ("samples-images-idx3-ubyte.gz", "samples-labels-idx1-ubyte.gz")


def rows():
    """Every sample without its upload, oldest first."""
    return db.session.execute(select(
        Sample.id, Sample.label, Sample.predicted, Sample.model_version, Sample.source,
        Sample.held_out, Sample.created, Sample.pixels).order_by(Sample.id)).all()


def archive(fmt):
    """The zip's bytes and its sample count for ``fmt`` "png" or "idx"; ``ValueError`` otherwise."""
    if fmt not in FORMATS:
        raise ValueError(f"The format must be one of {', '.join(FORMATS)}, not {fmt[:20]!r}.")
    samples = rows()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        (png_files if fmt == "png" else idx_files)(zipped, samples)
    return buffer.getvalue(), len(samples)


def image_of(row):
    return np.frombuffer(row.pixels, dtype=np.uint8).reshape(28, 28)


def png_files(zipped, samples):
    """``images/<id>.png`` per sample and ``labels.csv`` naming each one's label."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in samples:
        name = f"images/{row.id:06d}.png"
        picture = io.BytesIO()
        Image.fromarray(image_of(row)).save(picture, "PNG")
        zipped.writestr(name, picture.getvalue())
        writer.writerow((name, row.id, row.label, row.predicted, row.model_version, row.source,
                         int(row.held_out), row.created.isoformat() if row.created else ""))
    zipped.writestr("labels.csv", table.getvalue())


def idx_files(zipped, samples):
    """The images and labels as MNIST's idx pair (gzipped), plus ``ids.csv`` for held-out flags."""
    images = np.stack([image_of(r) for r in samples]) if samples else np.zeros((0, 28, 28))
    labels = np.array([r.label for r in samples], dtype=np.uint8)
    zipped.writestr(IDX_NAMES[0], mnist.write_idx(images))
    zipped.writestr(IDX_NAMES[1], mnist.write_idx(labels))
    zipped.writestr("ids.csv", "index,id,held_out\n" + "".join(
        f"{i},{r.id},{int(r.held_out)}\n" for i, r in enumerate(samples)))
