"""One ``Config`` (``webapp/config``): every setting once, typed from the environment, and the
table docs/operating.md holds generated from it."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import app_config
from webapp import create_app
from webapp.config import Config

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def test_docs_operating_holds_exactly_the_generated_settings_table():
    text = (ROOT / "docs" / "operating.md").read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    held = text.split(START)[1].split(END)[0]
    assert held.strip("\n") == Config.markdown_table().strip("\n"), (
        "docs/operating.md's settings table is not Config's: paste `python -m webapp.config`")


def test_python_m_webapp_config_prints_the_table():
    result = subprocess.run([sys.executable, "-m", "webapp.config"], capture_output=True,
                            text=True, cwd=ROOT, check=True)
    assert result.stdout == Config.markdown_table() and result.stderr == ""


def test_the_table_has_every_setting_with_its_variable_type_default_and_meaning():
    rows = Config.markdown_table().splitlines()[2:]
    assert len(rows) == len(Config.SETTINGS)
    for row, setting in zip(rows, Config.SETTINGS):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].startswith(f"`{setting.variable}`") and cells[1] == setting.kind
        assert cells[2] and cells[3] == setting.meaning


def test_each_default_has_its_settings_type():
    for setting in Config.SETTINGS:
        if setting.default is not None:
            kind = {"text": str, "path or unset": str, "whole number": int, "number": float,
                    "true/false": bool}[setting.kind]
            assert type(setting.default) is kind, setting.name


def test_the_environment_sets_typed_values_and_the_conventional_names_count():
    environ = {"DIGITS_MODEL_CHECK_SECONDS": "2.5", "DIGITS_LOG_REQUESTS": "false",
               "DIGITS_HOLD_OUT_PERCENT": "7", "DATABASE_URL": "postgresql://h/db",
               "DIGITS_REDIS_URL": "redis://a", "REDIS_URL": "redis://b", "DIGITS_MODEL": "",
               "DIGITS_SOMETHING_ELSE": "1"}
    assert Config.from_environment(environ) == {
        "MODEL_CHECK_SECONDS": 2.5, "LOG_REQUESTS": False, "HOLD_OUT_PERCENT": 7,
        "DATABASE_URL": "postgresql://h/db", "REDIS_URL": "redis://a", "MODEL": None}
    assert Config.value("PORT", {}) == 8000 and Config.value("PORT", {"DIGITS_PORT": "9"}) == 9


@pytest.mark.parametrize("variable, text", [("DIGITS_PORT", "eighty"),
                                            ("DIGITS_LOG_REQUESTS", "maybe"),
                                            ("DIGITS_UNSURE_BELOW", "60%")])
def test_a_bad_value_names_its_variable_and_the_type_wanted(variable, text):
    with pytest.raises(ValueError, match=rf"\${variable}='{re.escape(text)}': .* must be"):
        Config.from_environment({variable: text})


def test_create_app_overlays_test_config_on_the_defaults(model_path, tmp_path):
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path), PROMOTE_MARGIN=0.5))
    assert app.config["PROMOTE_MARGIN"] == 0.5 and app.config["MODEL_CHECK_SECONDS"] == 0
    for name, default in Config.defaults().items():
        if name not in ("PROMOTE_MARGIN", "MODEL_CHECK_SECONDS", "MODEL", "INSTANCE_PATH",
                        "SECRET_KEY", "TRUSTED_HOSTS", "PREDICT_RATE_LIMIT"):
            assert app.config[name] == default, name
    # Unset, TRUSTED_HOSTS becomes Flask's list: the loopback names and HOST (127.0.0.1).
    assert app.config["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1"]


def test_create_app_reads_the_environment_without_test_config(model_path, tmp_path,
                                                              monkeypatch):
    monkeypatch.setenv("DIGITS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DIGITS_MODEL", str(model_path))
    monkeypatch.setenv("DIGITS_UNSURE_BELOW", "0.25")
    monkeypatch.setenv("DIGITS_LOG_REQUESTS", "false")
    app = create_app()
    assert app.config["UNSURE_BELOW"] == 0.25 and app.config["LOG_REQUESTS"] is False
    assert "digits_request_log" not in app.extensions


def reads_of_settings(path):
    """Where ``path`` reads the environment or sets a config default itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        text = ast.unparse(node) if isinstance(node, (ast.Call, ast.Subscript)) else ""
        if isinstance(node, ast.Call) and re.match(
                r"(os\.environ\.get|os\.getenv|\w+\.config\.setdefault"
                r"|\w+\.config\.from_prefixed_env)\(",
                text):
            found.append(f"{path.name}:{node.lineno}: {text[:60]}")
        elif isinstance(node, ast.Subscript) and text.startswith("os.environ["):
            found.append(f"{path.name}:{node.lineno}: {text[:60]}")
    return found


def test_nothing_but_config_reads_the_environment_or_sets_a_default():
    found = [hit for path in sorted((ROOT / "webapp").rglob("*.py"))
             if "config" not in path.relative_to(ROOT / "webapp").parts
             for hit in reads_of_settings(path)]
    assert found == []


def test_the_reader_check_catches_each_form(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nos.environ.get('X')\nos.getenv('Y')\nos.environ['Z']\n"
                      "app.config.setdefault('A', 1)\n")
    assert len(reads_of_settings(sample)) == 4
