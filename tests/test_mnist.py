"""The MNIST loader: checksums, clear errors, downloads from a mirror, idx parsing."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import mnist
from tests.support import DATA_DIR, needs_data

FIXTURES = Path(__file__).parent / "fixtures"


def test_read_idx_fixture():
    images = mnist.read_idx(FIXTURES / "t10k-500-images-idx3-ubyte.gz")
    labels = mnist.read_idx(FIXTURES / "t10k-500-labels-idx1-ubyte.gz")
    assert images.shape == (500, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (500,) and set(np.unique(labels)) == set(range(10))
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]   # the famous first test digits


def test_read_idx_rejects_truncated_file(tmp_path):
    raw = gzip.decompress((FIXTURES / "t10k-500-images-idx3-ubyte.gz").read_bytes())
    bad = tmp_path / "short.gz"
    bad.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(mnist.DataError, match="header says"):
        mnist.read_idx(bad)


def test_missing_files_error_names_directory_and_files(tmp_path):
    with pytest.raises(mnist.DataError) as info:
        mnist.ensure_files(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    for name, _ in mnist.FILES.values():
        assert name in message
    assert "DIGITS_DATA_DIR" in message


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITS_DATA_DIR", str(tmp_path / "env"))
    assert mnist.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert mnist.resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DIGITS_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mnist.resolve_data_dir() == tmp_path / "cache" / "digits" / "mnist"


def test_corrupt_file_is_refused(tmp_path):
    for name, _ in mnist.FILES.values():
        shutil.copy(FIXTURES / "t10k-500-labels-idx1-ubyte.gz", tmp_path / name)
    with pytest.raises(mnist.DataError, match="corrupt"):
        mnist.load(tmp_path)


def test_download_refuses_wrong_checksum_and_leaves_nothing(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, _ in mnist.FILES.values():
        shutil.copy(FIXTURES / "t10k-500-labels-idx1-ubyte.gz", mirror / name)
    target = tmp_path / "data"
    with pytest.raises(mnist.DataError, match="SHA-256"):
        mnist.ensure_files(target, download=True, mirrors=[mirror.as_uri() + "/"])
    assert list(target.iterdir()) == []


@needs_data
def test_download_from_local_mirror(tmp_path):
    target = tmp_path / "data"
    paths = mnist.ensure_files(target, download=True, mirrors=[
        (tmp_path / "nowhere").as_uri() + "/", Path(DATA_DIR).resolve().as_uri() + "/"])
    assert sorted(p.name for p in paths.values()) == sorted(n for n, _ in mnist.FILES.values())
    assert sorted(p.name for p in target.iterdir()) == sorted(n for n, _ in mnist.FILES.values())


@needs_data
def test_full_data_set():
    data = mnist.load(DATA_DIR)
    assert data["train_images"].shape == (60000, 28, 28)
    assert data["test_images"].shape == (10000, 28, 28)
    assert np.bincount(data["test_labels"]).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    train, train_labels, val, val_labels = mnist.split_validation(
        data["train_images"], data["train_labels"])
    assert len(train) == 55000 and len(val) == 5000
    assert np.array_equal(val, data["train_images"][-5000:])
