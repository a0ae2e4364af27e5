"""The apps form layers, in INSTALLED_APPS order: a lower one never reaches up to write.

A higher layer may call a lower one's actions; a lower one tells the layers above
through its own hooks, which they register into in their AppConfig.ready().
"""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LAYERS = [app for app in settings.INSTALLED_APPS if (ROOT / app / "apps.py").is_file()]
# The write paths of an app, and the code it runs when the layers below change.
REACHING_UP = {"actions", "hooks", "listeners"}


def _is_test(path: Path) -> bool:
    return "tests" in path.parts or path.name.startswith("test_") or path.name == "conftest.py"


def _imported(tree: ast.AST):
    """(line, dotted name) of each import, function-local ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            # `from calls import actions` names the module in the alias.
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _reaching_up(app: str, root: Path = ROOT):
    rank = {name: i for i, name in enumerate(LAYERS)}
    for path in sorted((root / app).rglob("*.py")):
        relative = path.relative_to(root)
        if _is_test(relative):
            continue
        found = {}
        for line, name in _imported(ast.parse(path.read_text(), filename=str(path))):
            parts = name.split(".")
            if (
                len(parts) >= 2
                and parts[0] in rank
                and rank[parts[0]] > rank[app]
                and parts[1] in REACHING_UP
            ):
                # `from calls.hooks import x` names calls.hooks twice: once is enough.
                found[f"{relative}:{line} imports {parts[0]}.{parts[1]}"] = None
        yield from found


def test_the_layers_are_the_project_apps_in_their_order():
    # A renamed or reordered app must not silently empty the check below.
    assert LAYERS[:3] == ["audit", "establishments", "people"]
    assert LAYERS.index("bookings") < LAYERS.index("calls") < LAYERS.index("www")


def test_no_app_imports_the_actions_hooks_or_listeners_of_a_higher_layer():
    found = [line for app in LAYERS for line in _reaching_up(app)]
    assert found == []


def test_the_check_sees_function_local_imports_and_spares_tests_and_lower_layers(tmp_path):
    (tmp_path / "bookings" / "tests").mkdir(parents=True)
    (tmp_path / "bookings" / "actions.py").write_text(
        "from people.actions import x\n"
        "\n"
        "def f():\n"
        "    from calls import actions\n"
        "    import www.listeners\n"
        "    from calls.hooks import y\n"
        "    from calls.models import Call\n"
    )
    (tmp_path / "bookings" / "tests" / "test_x.py").write_text("from calls import actions\n")
    assert list(_reaching_up("bookings", tmp_path)) == [
        "bookings/actions.py:4 imports calls.actions",
        "bookings/actions.py:5 imports www.listeners",
        "bookings/actions.py:6 imports calls.hooks",
    ]
