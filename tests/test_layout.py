"""The house rules, read from the source with ``ast``: one-way imports, no circles, small modules.

Every import in ``webapp/``, ``model/`` and ``bench/`` counts, the ones inside
functions too: an import moved into a function to dodge a circle is still a
circle. ``ALLOWED`` is the direction: which group of modules may import which.
Nothing starts a module from a code string (``python -c "from webapp… import"``),
no test module imports another (shared helpers live in ``tests/support.py``),
and no module is over ``MAX_LINES`` lines.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("webapp", "model", "bench")
MAX_LINES = 400

# Who may import whom. A module belongs to the longest group name that prefixes it. The
# leaves (config, htmx, security, errors, i18n) import no area; every area may import them.
LEAVES = {"webapp.config", "webapp.htmx", "webapp.security", "webapp.errors", "webapp.i18n"}
ALLOWED = {
    "model": {"model"},
    "webapp.config": {"webapp.config"},
    "webapp.htmx": set(),
    "webapp.security": set(),
    "webapp.i18n": set(),
    "webapp.errors": {"webapp.htmx", "webapp.security"},
    "webapp.core": {"webapp.core", "model", *LEAVES},
    "webapp.reading": {"webapp.reading", "webapp.core", "model", *LEAVES},
    "webapp.teaching": {"webapp.teaching", "webapp.reading", "webapp.core", "model", *LEAVES},
    "webapp.admin": {"webapp.admin", "webapp.teaching", "webapp.reading", "webapp.core", "model",
                     *LEAVES},
    # Teachers are the admins: a class's teacher pages use the admin's login and its words.
    "webapp.classroom": {"webapp.classroom", "webapp.admin.auth", "webapp.admin.names",
                         "webapp.teaching",
                         "webapp.reading", "webapp.core", "model", *LEAVES},
    "webapp.ops": {"webapp.ops", "webapp.admin.auth", "webapp.teaching", "webapp.reading",
                   "webapp.core", "model", *LEAVES},
    # create_app registers every area; it never imports the entry points.
    "webapp": {"webapp.core", "webapp.reading", "webapp.teaching", "webapp.admin",
               "webapp.classroom",
               "webapp.ops.commands", "webapp.ops.model_commands", "webapp.ops.health",
               "webapp.ops.requestlog", *LEAVES},
    "bench": {"bench", "webapp", "model", "tests"},
}
# Only the entry points call create_app (import the package ``webapp`` itself).
ENTRY_POINTS = {"webapp.ops.cli", "webapp.ops.server"}
# Inside teaching, one way: worker → retraining → runs → queue. The web (reading, admin)
# enqueues through ``runs``/``queue`` and never imports the worker or what it runs.
WORKER_SIDE = {"webapp.teaching.worker", "webapp.teaching.retraining"}
# model stays pure NumPy: no web stack, no web app.
MODEL_FORBIDDEN = {"flask", "werkzeug", "PIL", "sqlalchemy", "webapp", "jinja2", "scipy", "torch",
                   "bench", "huey", "tests"}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(*packages):
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


PROJECT = {module_name(p) for p in sources(*PACKAGES, "tests")}


def imports(path):
    """``(line, module)`` for every import in the file ``path``: see ``imports_in``."""
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_in(source, name, is_package=False):
    """``(line, module)`` for every import in ``source`` (module ``name``), at any depth,
    inside functions too, relative ones resolved.

    ``from package import name`` names the module ``package.name`` when that is a module
    of the project, else ``package``.
    """
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield node.lineno, full if full in PROJECT else base


def group(module, table=ALLOWED):
    """The longest name in ``table`` that is ``module`` or a package above it."""
    candidates = [g for g in table if module == g or module.startswith(g + ".")]
    return max(candidates, key=len) if candidates else None


def allowed(importer, imported):
    if imported == "webapp":
        return importer in ENTRY_POINTS or group(importer) == "bench"
    targets = ALLOWED[group(importer)]
    return any(imported == t or imported.startswith(t + ".") for t in targets)


def graph():
    """{module: {imported project module: first line}} for webapp/, model/ and bench/."""
    edges = {}
    for path in sources(*PACKAGES):
        importer = module_name(path)
        edges.setdefault(importer, {})
        for line, imported in imports(path):
            if imported.split(".")[0] in ("webapp", "model", "bench", "tests") and \
                    imported != importer:
                edges[importer].setdefault(imported, line)
    return edges


def cycles(edges):
    """Every strongly connected group of two or more modules (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in edges:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_there_is_no_import_circle_counting_imports_inside_functions():
    assert cycles(graph()) == []


def test_the_circle_finder_finds_circles():
    edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_every_module_has_a_group_in_the_direction_table():
    assert [m for m in graph() if group(m) is None] == []


def test_imports_run_one_way():
    against = [f"{importer} imports {imported} (line {line})"
               for importer, targets in graph().items() for imported, line in targets.items()
               if imported.split(".")[0] in ("webapp", "model", "bench", "tests")
               and not allowed(importer, imported)]
    assert against == []


def test_only_the_entry_points_import_create_app():
    callers = [importer for importer, targets in graph().items()
               if "webapp" in targets and importer.startswith("webapp")]
    assert set(callers) <= ENTRY_POINTS


def test_web_code_never_imports_the_worker():
    web = [f"{importer} imports {imported}" for importer, targets in graph().items()
           for imported in targets
           if imported in WORKER_SIDE and group(importer) in ("webapp.reading", "webapp.admin")]
    inside = [f"{importer} imports {imported}" for importer, targets in graph().items()
              for imported in targets
              if importer in ("webapp.teaching.runs", "webapp.teaching.queue",
                              "webapp.teaching.settings") and imported in WORKER_SIDE]
    assert web + inside == []


@pytest.mark.parametrize("path", sources("model"), ids=lambda p: p.name)
def test_model_module_imports_no_web_code(path):
    assert not {imported.split(".")[0] for _, imported in imports(path)} & MODEL_FORBIDDEN


def test_model_holds_only_the_network_the_data_and_training():
    assert not (ROOT / "model" / "bench.py").exists()      # benchmarks live in bench/


def test_nothing_starts_a_module_from_a_code_string():
    """No ``python -c "…import…"`` and no exec/eval/import_module in the app or the model."""
    found = []
    for path in sources("webapp", "model"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value == "-c":
                found.append(f"{path.name}:{node.lineno} passes -c")
            if isinstance(node, ast.Call):
                callee = node.func.attr if isinstance(node.func, ast.Attribute) else \
                    getattr(node.func, "id", "")
                if callee in ("exec", "eval", "import_module", "__import__"):
                    found.append(f"{path.name}:{node.lineno} calls {callee}")
    assert found == []


def test_imports_inside_functions_count_and_relative_ones_resolve():
    source = "import os\n\ndef f():\n    from . import worker\n    from ..core.db import db\n"
    assert list(imports_in(source, "webapp.teaching.runs")) == [
        (1, "os"), (4, "webapp.teaching.worker"), (5, "webapp.core.db")]
    assert cycles({"webapp.teaching.runs": {"webapp.teaching.worker": 4},
                   "webapp.teaching.worker": {"webapp.teaching.runs": 1}}) != []


def test_no_test_module_imports_another_test_module():
    found = [f"{path.name}:{line} imports {imported}"
             for path in sources("tests") for line, imported in imports(path)
             if re.fullmatch(r"tests\.(test_\w+|conftest)", imported)]
    assert found == []


@pytest.mark.parametrize("package", ["webapp", "model", "tests"])
def test_no_module_is_over_the_line_limit(package):
    long = {p.relative_to(ROOT).as_posix(): n for p in sources(package)
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("path", sources("webapp", "model"),
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_opens_with_a_docstring(path):
    assert ast.get_docstring(ast.parse(path.read_text()))


@pytest.mark.parametrize("area", ["core", "reading", "teaching", "admin", "classroom", "ops"])
def test_each_area_says_in_one_line_what_it_holds_and_may_import(area):
    doc = ast.get_docstring(ast.parse((ROOT / "webapp" / area / "__init__.py").read_text()))
    assert doc.startswith(f"{area}: ") and "\n" not in doc and "Imports" in doc


def test_the_htmx_question_is_asked_in_one_place():
    """``htmx.is_htmx()`` is the one test for an htmx request; no module reads the header."""
    found = [f"{p.relative_to(ROOT)}:{n}" for p in sources("webapp") if p.name != "htmx.py"
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"""["']HX-Request["']""", line)]
    assert found == []
