"""What a class takes away: its drawings as a zip (PNGs and a labels CSV), and the QR code.

The zip holds one 28×28 PNG per saved drawing (white ink on black, as MNIST
and the network see them) and ``labels.csv``: file, label, what the network
read, the model version that read it, the review state (accepted or rejected), whether it was held
out, and the student's number in the class (never a nickname). It is built in
memory: a lesson's drawings are a few hundred kilobytes.
"""

import csv
import io
import zipfile

import segno
from PIL import Image

from ..core import samples
from . import lessons

COLUMNS = ("file", "label", "read_as", "model_version", "state", "held_out", "student")


def qr_data_uri(url):
    """The join link as a QR code: an SVG data URL (the CSP allows ``img-src data:``)."""
    return segno.make(url, error="m").svg_data_uri(scale=10, border=2)


def png(sample):
    buffer = io.BytesIO()
    Image.fromarray(samples.image(sample)).save(buffer, "PNG")
    return buffer.getvalue()


def drawings_zip(classroom):
    rows = lessons.corrections(classroom.id)
    numbers = {s.id: n for n, s in enumerate(lessons.students(classroom.id), 1)}
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(COLUMNS)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for sample in reversed(rows):
            name = f"drawings/{sample.id:06d}-{sample.label}.png"
            archive.writestr(name, png(sample))
            writer.writerow([name, sample.label, sample.predicted, sample.model_version,
                             sample.state, int(sample.held_out),
                             numbers.get(sample.student_id, "")])
        archive.writestr("labels.csv", table.getvalue())
    return buffer.getvalue()
