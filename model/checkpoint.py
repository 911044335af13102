"""Saving and loading trained networks: one ``.npz`` file, arrays plus JSON metadata.

No pickle anywhere: arrays are stored as ``w0, b0, w1, b1, ...`` and the
metadata (sizes, activation, the input contract ``preprocessing``, training
settings, metrics, data checksums, date) as UTF-8 JSON bytes under ``metadata``; loading uses
``allow_pickle=False`` and checks every shape, dtype and value before a
network is built. Files are published atomically so a reader (another server
process, say) never sees half a model. ``dumps``/``loads`` do the same with
bytes, for model versions kept in a database.
"""

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .network import ACTIVATIONS, COSTS, Network

FORMAT = "digits-mlp/1"


class CheckpointError(ValueError):
    """The file is not a usable model; the message says what is wrong with it."""


def save(path, net, metadata=None):
    """Write ``net`` and ``metadata`` (a JSON-serialisable dict) to ``path`` atomically."""
    path = Path(path)
    write_atomic(path, dumps(net, metadata))
    return path


def dumps(net, metadata=None):
    """``net`` and ``metadata`` as the bytes of an ``.npz`` file (what ``save`` writes).

    The network's own description (sizes, activation, cost, dtype and its input
    contract, ``preprocessing``) always comes from ``net``, never from the caller.
    """
    meta = dict(metadata or {})
    meta.update(format=FORMAT, sizes=net.sizes, activation=net.activation, cost=net.cost,
                dtype=net.dtype.name,
                preprocessing={**meta.get("preprocessing", {}), "deskew": net.deskew})
    arrays = {}
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"w{l}"], arrays[f"b{l}"] = w, b
    arrays["metadata"] = np.frombuffer(json.dumps(meta, indent=1).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write_atomic(path, data):
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename, fsync dir."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(path):
    """``(network, metadata)`` from ``path``; raises ``CheckpointError`` if anything is off."""
    path = Path(path)
    try:
        return _load(path, path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such model file") from None


def loads(data, name="model"):
    """``(network, metadata)`` from the bytes of an ``.npz`` file; ``name`` labels errors."""
    return _load(io.BytesIO(data), name)


def _load(source, path):
    try:
        with np.load(source, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable .npz model file ({exc})") from None
    meta = _read_metadata(path, arrays.pop("metadata", None))
    sizes = meta["sizes"]
    expected = {}
    for l, (m, k) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"w{l}"], expected[f"b{l}"] = (m, k), (k,)
    if set(arrays) != set(expected):
        raise CheckpointError(f"{path}: arrays {sorted(arrays)} do not match sizes {sizes} "
                              f"(expected {sorted(expected)})")
    dtype = np.dtype(meta["dtype"])
    for key, shape in expected.items():
        a = arrays[key]
        if a.shape != shape:
            raise CheckpointError(f"{path}: {key} has shape {a.shape}, sizes {sizes} need {shape}")
        if a.dtype != dtype:
            raise CheckpointError(f"{path}: {key} is {a.dtype}, metadata says {dtype}")
        if not np.all(np.isfinite(a)):
            raise CheckpointError(f"{path}: {key} holds NaN or infinite values")
    net = Network(sizes, activation=meta["activation"], cost=meta["cost"], dtype=dtype,
                  deskew=meta["preprocessing"]["deskew"])
    net.weights = [arrays[f"w{l}"] for l in range(len(sizes) - 1)]
    net.biases = [arrays[f"b{l}"] for l in range(len(sizes) - 1)]
    return net, meta


def _read_metadata(path, raw):
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: no metadata; not a digits model file")
    try:
        meta = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: metadata format is not {FORMAT}")
    sizes = meta.get("sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, int) and s > 0 for s in sizes)):
        raise CheckpointError(f"{path}: metadata sizes {sizes!r} are not a list of positive ints")
    if meta.get("activation") not in ACTIVATIONS or meta.get("cost") not in COSTS:
        raise CheckpointError(f"{path}: unknown activation or cost in metadata")
    if meta.get("dtype") not in ("float32", "float64"):
        raise CheckpointError(f"{path}: dtype {meta.get('dtype')!r} is not float32 or float64")
    preprocessing = meta.get("preprocessing")
    if not isinstance(preprocessing, dict) or not isinstance(preprocessing.get("deskew"), bool):
        raise CheckpointError(f"{path}: metadata lacks the input contract "
                              "(preprocessing.deskew true or false)")
    return meta
