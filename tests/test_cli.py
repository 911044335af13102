"""The ``digits`` command: train and evaluate end to end, and its error messages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import model
from webapp import cli

DATA_DIR = os.environ.get("DIGITS_DATA_DIR")
needs_data = pytest.mark.skipif(
    not DATA_DIR or not Path(DATA_DIR, "t10k-images-idx3-ubyte.gz").exists(),
    reason="full MNIST not present: set DIGITS_DATA_DIR to the directory of the four idx .gz files")


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", "--data-dir", str(tmp_path), "--no-download"])
    assert "MNIST files missing in" in str(info.value) and str(tmp_path) in str(info.value)


def test_unreachable_mirror_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_MNIST_MIRROR", (tmp_path / "no-mirror").as_uri() + "/")
    data_dir = tmp_path / "data"
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", "--data-dir", str(data_dir)])
    message = str(info.value)
    assert "MNIST files missing in" in message and str(data_dir) in message
    assert "could not download" in message and "no-mirror" in message


def test_bad_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(SystemExit) as info:
        cli.main(["evaluate", str(bad)])
    assert "broken.npz" in str(info.value)


def test_console_script_is_installed():
    out = subprocess.run([Path(sys.executable).with_name("digits"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    for command in ("train", "evaluate", "bench", "serve"):
        assert command in out


@needs_data
def test_train_then_evaluate(tmp_path, capsys):
    out = tmp_path / "tiny.npz"
    cli.main(["train", "--hidden", "24", "--epochs", "2", "--no-augment", "--seed", "3",
              "--data-dir", DATA_DIR, "--out", str(out)])
    printed = capsys.readouterr()
    assert "test accuracy" in printed.out and "epoch   2" in printed.err + printed.out
    net, meta = model.load(out)
    assert net.sizes == [784, 24, 10]
    assert meta["training"]["epochs"] == 2 and len(meta["history"]) == 2
    assert meta["metrics"]["test_accuracy"] > 0.9
    cli.main(["evaluate", str(out), "--json", "--data-dir", DATA_DIR])
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(meta["metrics"]["test_accuracy"])
