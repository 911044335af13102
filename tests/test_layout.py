"""The model package stays pure NumPy: it never imports the web stack or the web app."""

import ast
from pathlib import Path

import pytest

MODEL_DIR = Path(__file__).resolve().parent.parent / "model"
FORBIDDEN = {"flask", "werkzeug", "PIL", "sqlalchemy", "webapp", "jinja2", "scipy", "torch",
             "bench", "huey"}


def imported_roots(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("path", sorted(MODEL_DIR.glob("*.py")), ids=lambda p: p.name)
def test_model_module_imports_no_web_code(path):
    assert not (set(imported_roots(path)) & FORBIDDEN)


def test_model_holds_only_the_network_the_data_and_training():
    assert not (MODEL_DIR / "bench.py").exists()      # benchmarks live in bench/
