"""The ``digits`` command (a Flask CLI group): train and evaluate end to end, and its errors.

Commands run through ``app.test_cli_runner()``, in the app's context, as
``digits …`` runs them.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import model
from model import train
from tests.support import DATA_DIR, needs_data


def test_missing_data_is_a_clear_error(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITS_DATA_DIR", raising=False)
    result = runner.invoke(args=["evaluate", "--data-dir", str(tmp_path), "--no-download"])
    assert result.exit_code == 1
    assert "MNIST files missing in" in result.output and str(tmp_path) in result.output


def test_unreachable_mirror_is_a_clear_error(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_MNIST_MIRROR", (tmp_path / "no-mirror").as_uri() + "/")
    data_dir = tmp_path / "data"
    result = runner.invoke(args=["evaluate", "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    assert "MNIST files missing in" in result.output and str(data_dir) in result.output
    assert "could not download" in result.output and "no-mirror" in result.output


def test_bad_model_file_is_a_clear_error(runner, tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"junk")
    result = runner.invoke(args=["evaluate", str(bad)])
    assert result.exit_code == 1 and "broken.npz" in result.output


def test_bad_option_values_are_refused_with_a_message(runner):
    result = runner.invoke(args=["train", "--epochs", "0"])
    assert result.exit_code == 2 and "--epochs" in result.output


def test_training_defaults_have_one_source(app):
    defaults = train.TrainConfig()
    options = {p.name: p.default for p in app.cli.get_command(None, "train").params}
    for name in ("eta", "epochs", "batch_size", "momentum", "weight_decay", "augment", "deskew"):
        assert options[name] == getattr(defaults, name), name
    assert tuple(options["hidden"]) == defaults.hidden


def listed_commands(help_text):
    """The command names under "Commands:" in a click help page."""
    section = help_text.split("Commands:", 1)[1]
    return {match.group(1) for match in re.finditer(r"^  (\S+)", section, flags=re.M)}


def test_console_script_is_installed_with_every_command(tmp_path):
    env = {**os.environ, "DIGITS_INSTANCE_PATH": str(tmp_path)}
    out = subprocess.run([Path(sys.executable).with_name("digits"), "--help"],
                         capture_output=True, text=True, check=True, env=env).stdout
    # Whole names: "retrain" must not pass for "train".
    assert {"train", "evaluate", "serve", "worker", "retrain", "models", "admin"} <= \
        listed_commands(out)


def test_listed_commands_reads_whole_names():
    page = "Usage: digits\n\nCommands:\n  retrain  Retrain.\n  serve    Serve.\n"
    assert listed_commands(page) == {"retrain", "serve"}


@needs_data
def test_train_then_evaluate(runner, tmp_path):
    out = tmp_path / "tiny.npz"
    result = runner.invoke(args=["train", "--hidden", "24", "--epochs", "2", "--no-augment",
                                 "--seed", "3", "--data-dir", DATA_DIR, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "epoch   2" in result.output
    net, meta = model.load(out)
    assert net.sizes == [784, 24, 10] and net.deskew is True
    assert meta["training"]["epochs"] == 2 and len(meta["history"]) == 2
    assert meta["metrics"]["test_accuracy"] > 0.9
    result = runner.invoke(args=["evaluate", str(out), "--json", "--data-dir", DATA_DIR])
    assert json.loads(result.output)["accuracy"] == meta["metrics"]["test_accuracy"]


@needs_data
def test_train_with_generated_forms_records_the_recipe(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "forms.npz"
    result = runner.invoke(args=["train", "--hidden", "16", "--epochs", "1", "--no-augment",
                                 "--forms", "40", "--forms-exclude", "british",
                                 "--data-dir", DATA_DIR, "--out", str(out)])
    assert result.exit_code == 0, result.output
    _, meta = model.load(out)
    assert meta["training"]["forms"]["drawings"] == 40
    assert meta["training"]["forms"]["exclude"] == ["british"]


@needs_data
def test_train_on_pen_and_redrawn_digits_from_a_widened_start(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_CACHE_DIR", str(tmp_path / "cache"))
    start, out = tmp_path / "start.npz", tmp_path / "pen.npz"
    assert runner.invoke(args=["train", "--hidden", "12", "--epochs", "1", "--no-augment",
                               "--data-dir", DATA_DIR, "--out", str(start)]).exit_code == 0
    result = runner.invoke(args=["train", "--hidden", "20", "--epochs", "1", "--no-augment",
                                 "--pen", "30", "--redraw", "40", "--start", str(start),
                                 "--data-dir", DATA_DIR, "--out", str(out)])
    assert result.exit_code == 0, result.output
    net, meta = model.load(out)
    assert net.sizes == [784, 20, 10]
    assert meta["training"]["pen"]["drawings"] == 30
    assert 20 <= meta["training"]["redrawn_mnist"]["kept"] <= 40
    assert meta["training"]["start"]["widened_to"] == 20
    narrower = runner.invoke(args=["train", "--hidden", "8", "--epochs", "1", "--start",
                                   str(out), "--data-dir", DATA_DIR, "--out", str(out)])
    assert narrower.exit_code != 0 and "widen" in narrower.output
