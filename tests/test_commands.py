"""The operator's commands (``webapp/ops/commands.py``): ``digits retrain`` and ``digits models``,
through ``app.test_cli_runner()`` as ``digits …`` runs them."""

import re

import model
from tests.support import DATA_DIR, needs_data
from webapp.core import registry
from webapp.teaching import runs, settings as retrain


def add_version(app, test_accuracy, seed):
    """Register a small network claiming ``test_accuracy``; returns its number."""
    with app.app_context():
        net = model.Network([784, 16, 10], seed=seed)
        return registry.register(net, {}, metrics={"test_accuracy": test_accuracy},
                                 origin=f"test {seed}").id


@needs_data
def test_retrain_prints_the_new_version_and_its_metrics(app, runner):
    result = runner.invoke(args=["retrain", "--epochs", "1", "--no-augment",
                                 "--data-dir", DATA_DIR])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "model version 2" in lines
    assert re.search(r"^epoch +1 +loss [\d.]+ +train [\d.]+ +val [\d.]+", result.output, re.M)
    assert re.search(r"^test accuracy 0\.\d{4} .*held-out samples none", result.output, re.M)
    with app.app_context():
        assert registry.get(2).metrics["test_accuracy"] > 0.85
        assert registry.serving_id() == 1
        run = runs.latest()
        assert run.status == "succeeded" and run.settings["epochs"] == 1
        assert run.settings["augment"] is False and run.settings["include_samples"] is True
        # What the command line leaves out, retrain.validate fills in as for a blank form field.
        assert run.settings["eta"] == retrain.FINE_TUNE.eta


def test_retrain_defaults_are_the_dashboards(app):
    options = {p.name: p.default for p in app.cli.get_command(None, "retrain").params}
    assert options["augment"] == retrain.FINE_TUNE.augment
    assert options["include_samples"] == retrain.FINE_TUNE.include_samples


def test_retrain_refuses_bad_settings_with_the_forms_message(runner):
    result = runner.invoke(args=["retrain", "--epochs", "0"])
    assert result.exit_code == 2
    assert "Epochs must be a whole number from 1 to 200." in result.output


def test_retrain_is_refused_while_a_run_is_queued(app, runner):
    with app.app_context():
        queued = runs.start(retrain.FINE_TUNE, enqueue=False).id
    result = runner.invoke(args=["retrain", "--epochs", "1"])
    assert result.exit_code == 1
    assert f"Training run #{queued} is already queued" in result.output


def test_a_failed_retrain_exits_non_zero_with_the_reason(app, runner, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_MNIST_MIRROR", (tmp_path / "no-mirror").as_uri() + "/")
    result = runner.invoke(args=["retrain", "--epochs", "1", "--data-dir",
                                 str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "MNIST files missing in" in result.output and "Traceback" not in result.output
    assert "model version" not in result.output
    with app.app_context():
        assert runs.latest() is None          # refused before a run was made, not a failed run


def test_models_list_marks_the_serving_version(app, runner):
    add_version(app, 0.97, seed=2)
    lines = runner.invoke(args=["models", "list"]).output.splitlines()
    assert lines[0].split() == ["version", "created", "sizes", "origin", "test", "held-out"]
    assert lines[1].split()[0] == "2" and "97.00%" in lines[1] and "test 2" in lines[1]
    assert lines[2].split()[:2] == ["*", "1"] and "784-16-10" in lines[2]


def test_promote_refused_for_accuracy_allowed_with_force_then_rollback(app, runner):
    good = add_version(app, 0.99, seed=2)
    worse = add_version(app, 0.95, seed=3)
    assert runner.invoke(args=["models", "promote", str(good)]).output == \
        f"now serving model version {good}\n"

    result = runner.invoke(args=["models", "promote", str(worse)])
    assert result.exit_code == 1
    assert f"Model version {worse} reads 95.00% of the MNIST test set" in result.output
    with app.app_context():
        assert registry.serving_id() == good

    result = runner.invoke(args=["models", "promote", str(worse), "--force"])
    assert result.exit_code == 0 and "(forced)" in result.output
    with app.app_context():
        assert registry.serving_id() == worse

    assert runner.invoke(args=["models", "rollback"]).output == \
        f"now serving model version {good}\n"
    assert runner.invoke(args=["models", "rollback", "1"]).output == "now serving model version 1\n"
    list_output = runner.invoke(args=["models", "list"]).output
    assert re.search(r"^\* +1 ", list_output, re.M)


def test_models_errors_are_messages_not_tracebacks(runner):
    result = runner.invoke(args=["models", "promote", "7"])
    assert result.exit_code == 1 and "There is no model version 7." in result.output
    result = runner.invoke(args=["models", "rollback"])
    assert result.exit_code == 1 and "no earlier version" in result.output
    result = runner.invoke(args=["models", "promote", "1"])
    assert result.exit_code == 1 and "already being served" in result.output

