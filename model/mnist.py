"""Reading, finding and fetching the MNIST data set (the four standard idx ``.gz`` files).

Kept apart from the network so training, evaluation and tests share one loader
that never trains on partial or corrupt data: every file is checked against its
published SHA-256 before it is parsed.

Where the files live, in order: an explicit ``data_dir`` (the CLI's
``--data-dir``), the ``DIGITS_DATA_DIR`` environment variable, else a per-user
cache (``$XDG_CACHE_HOME/digits/mnist`` or ``~/.cache/digits/mnist``). Missing
files are downloaded (``download=True``, the CLI's default) from public mirrors,
or from ``$DIGITS_MNIST_MIRROR`` (any URL ending in ``/``, ``file://`` included)
when set, and kept only if their SHA-256 matches.
"""

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
VALIDATION_SIZE = 5000


class DataError(RuntimeError):
    """The data set is missing, incomplete or corrupt; the message says what to do."""


def default_data_dir():
    """The directory used when neither ``--data-dir`` nor ``DIGITS_DATA_DIR`` is given."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "digits" / "mnist"


def resolve_data_dir(data_dir=None):
    """``data_dir`` if given, else ``$DIGITS_DATA_DIR``, else the per-user cache."""
    return Path(data_dir or os.environ.get("DIGITS_DATA_DIR") or default_data_dir())


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(name, expected, directory, mirrors):
    """Fetch ``name`` from the first mirror that serves it with the right checksum."""
    errors = []
    for mirror in mirrors:
        url = mirror + name
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=name + ".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, out)
                out.flush()
                os.fsync(out.fileno())
            got = sha256(tmp)
            if got != expected:
                errors.append(f"{url}: SHA-256 {got} is not the published {expected}")
                continue
            os.replace(tmp, directory / name)
            return
        except (OSError, urllib.error.URLError) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DataError(f"could not download {name}:\n  " + "\n  ".join(errors))


def default_mirrors():
    """``$DIGITS_MNIST_MIRROR`` if set, else the public mirrors."""
    mirror = os.environ.get("DIGITS_MNIST_MIRROR")
    return (mirror,) if mirror else MIRRORS


def ensure_files(data_dir=None, download=False, mirrors=None):
    """Paths of the four files in ``data_dir``, checked against their SHA-256.

    Missing files are downloaded when ``download`` is true. When they are
    missing and cannot be had, or a file is corrupt, raises ``DataError``
    naming the directory, the files and what to do.
    """
    directory = resolve_data_dir(data_dir)
    missing = [name for name, _ in FILES.values() if not (directory / name).is_file()]
    if missing:
        advice = ("Point --data-dir or DIGITS_DATA_DIR at a directory holding the four idx .gz "
                  "files" + (", or allow downloading them (SHA-256 checked)." if not download
                             else "."))
        problem = f"MNIST files missing in {directory}: {', '.join(missing)}."
        if not download:
            raise DataError(f"{problem}\n{advice}")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for name, expected in FILES.values():
                if name in missing:
                    _download(name, expected, directory, mirrors or default_mirrors())
        except (DataError, OSError) as exc:
            raise DataError(f"{problem}\n{exc}\n{advice}") from None
    paths = {}
    for key, (name, expected) in FILES.items():
        path = directory / name
        got = sha256(path)
        if got != expected:
            raise DataError(f"{path} is corrupt: SHA-256 {got}, expected {expected}. "
                            "Delete it and download it again.")
        paths[key] = path
    return paths


def read_idx(path):
    """Parse one gzipped idx file into a uint8 array (images (n, 28, 28), labels (n,))."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    count = int(np.prod(shape))
    if len(data) - offset != count:
        raise DataError(f"{path} holds {len(data) - offset} bytes of data, its header says {count}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def write_idx(array):
    """A uint8 array (images (n, 28, 28) or labels (n,)) → the bytes of its gzipped idx file,
    as MNIST's own files are written; ``read_idx`` reads it back."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


def load(data_dir=None, download=False):
    """The full set as a dict of uint8 arrays plus the files' checksums.

    Keys: ``train_images`` (60000, 28, 28), ``train_labels`` (60000,),
    ``test_images`` (10000, 28, 28), ``test_labels`` (10000,), ``sha256``.
    """
    paths = ensure_files(data_dir, download)
    data = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        if len(data[f"{split}_images"]) != len(data[f"{split}_labels"]):
            raise DataError(f"{split} images and labels differ in count")
    data["sha256"] = {FILES[key][0]: FILES[key][1] for key in FILES}
    return data


def split_validation(images, labels, size=VALIDATION_SIZE):
    """(train_images, train_labels, val_images, val_labels): the last ``size`` are validation."""
    return images[:-size], labels[:-size], images[-size:], labels[-size:]


def one_hot(labels, classes=10, dtype=np.float32):
    """Integer labels (n,) → one-hot rows (n, classes)."""
    return np.eye(classes, dtype=dtype)[labels]
