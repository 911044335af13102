"""Labelled drawings brought in by the operator: a folder or a .zip of PNG/JPEG files.

    digits samples import PATH        (a folder or a .zip)
    the dashboard's "Import drawings" (a .zip, or one PNG/JPEG with its label)

A file's label is, first, its row in ``labels.csv`` at the top of the folder or
zip (``file,label``; ``file`` as its path inside, e.g. ``sevens/a.png``; a header
row is allowed), else the name of the folder it is in: ``7/anything.png``,
``none/scribble.png`` (``none``: not a digit). Each file is read exactly as an
upload is (``reading.corrections.add``: decoded, cropped, the serving model's
guess recorded) and stored **accepted**: the operator vouches for it. A file
that cannot be read, is blank, too large or has no label is skipped and named
in the report; nothing else is written for it.
"""

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from flask_babel import gettext

from ..core import samples
from ..reading.corrections import add
from ..reading.decode import MAX_BYTES, ImageError

SUFFIXES = (".png", ".jpg", ".jpeg")
LABELS_FILE = "labels.csv"
MAX_FILES = 100_000          # members of one zip looked at; a zip of more is refused
MAX_SKIPS_SHOWN = 20


class ImportRefused(ValueError):
    """The whole folder or zip is refused (not found, not a zip, too many members)."""


@dataclass
class Report:
    """What an import did: the ids stored and ``(file, reason)`` for each file skipped."""

    stored: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def summary(self):
        text = f"imported {len(self.stored)} drawing{'s' if len(self.stored) != 1 else ''}"
        if self.skipped:
            text += f", skipped {len(self.skipped)}: " + "; ".join(
                f"{name}: {reason}" for name, reason in self.skipped[:MAX_SKIPS_SHOWN])
            if len(self.skipped) > MAX_SKIPS_SHOWN:
                text += f"; and {len(self.skipped) - MAX_SKIPS_SHOWN} more"
        return text


def import_path(path, source="import"):
    """Import a folder or a .zip at ``path``; a ``Report``."""
    path = Path(path)
    if path.is_dir():
        files = {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*"))
                 if p.is_file()}
        return import_files({name: (lambda p=p: read_limited(p.open("rb")))
                             for name, p in files.items()}, source)
    if not path.is_file():
        raise ImportRefused(f"{path} is neither a folder nor a file.")
    with path.open("rb") as stream:
        return import_zip(stream, source)


def import_zip(stream, source="admin"):
    """Import the zip in the binary ``stream``; a ``Report``."""
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile:
        raise ImportRefused(gettext("This is not a zip file: send a .zip of labelled PNGs.")) \
            from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_FILES:
            raise ImportRefused(gettext("The zip holds %(num)s files; at most %(limit)s are "
                                        "imported at once.", num=format(len(members), ","),
                                        limit=format(MAX_FILES, ",")))
        return import_files({m.filename: (lambda m=m: read_limited(archive.open(m)))
                             for m in members}, source)


def read_limited(stream):
    """At most ``MAX_BYTES`` + 1 bytes (so a file that inflates past the limit is seen)."""
    with stream:
        return stream.read(MAX_BYTES + 1)


def import_files(files, source):
    """``files``: {path inside: a function returning its bytes}. Labels from labels.csv,
    else from the folder name; every picture stored accepted."""
    labels = {}
    if LABELS_FILE in files:
        labels = read_labels(files[LABELS_FILE]())
    report = Report()
    for name, read in files.items():
        parts = PurePosixPath(name).parts
        if (name == LABELS_FILE or parts[0] == "__MACOSX" or parts[-1].startswith(".")
                or not name.lower().endswith(SUFFIXES)):
            continue
        label = labels.get(name, parts[-2] if len(parts) > 1 else None)
        if label is None:
            report.skipped.append((name, gettext(
                "no label: put it in a folder named for its digit (7/%(file)s) or list it in "
                "%(labels)s", file=parts[-1], labels=LABELS_FILE)))
            continue
        try:
            label = samples.parse_label(label)
            data = read()
            if len(data) > MAX_BYTES:
                raise samples.SampleError(gettext("larger than %(limit)s KiB",
                                                  limit=MAX_BYTES // 1024))
            report.stored.append(add(data, label, source=source, state=samples.ACCEPTED).id)
        except (samples.SampleError, ImageError) as exc:
            report.skipped.append((name, str(exc)))
    return report


def read_labels(data):
    """labels.csv's bytes → {file: label text}; a header row (``file,label``) is skipped."""
    text = data.decode("utf-8-sig", errors="replace")
    labels = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0].strip() and row[0].strip().lower() != "file":
            labels[row[0].strip()] = row[1].strip()
    return labels


def import_picture(data, label, source="admin"):
    """One uploaded picture with the operator's ``label``, stored accepted; the sample."""
    if len(data) > MAX_BYTES:
        raise samples.SampleError(gettext("The picture is larger than %(limit)s KiB.",
                                          limit=MAX_BYTES // 1024))
    return add(data, samples.parse_label(label), source=source, state=samples.ACCEPTED)
