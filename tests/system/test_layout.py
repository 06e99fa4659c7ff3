"""The dependency rules of the layout (docs/architecture.md): orders never imports voice, numbermasking only
wires, no Plivo field name is read outside voice/plivo/, and the test suite keeps its own layout."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def modules(package: str) -> list[Path]:
    return sorted(path for path in (PROJECT / package).rglob("*.py") if "migrations" not in path.parts)


def imported(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Every module ``path`` imports (``from . import x`` resolved against its package)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = ".".join(path.relative_to(PROJECT).with_suffix("").parts[:-1])
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("path", modules("orders"), ids=lambda path: str(path.relative_to(PROJECT)))
def test_orders_never_imports_voice(path):
    assert not {name for name in imported(path) if name == "voice" or name.startswith("voice.")}


@pytest.mark.parametrize(
    "path",
    [path for path in modules("numbermasking") if path.name != "urls.py"],
    ids=lambda path: str(path.relative_to(PROJECT)),
)
def test_numbermasking_imports_no_app_at_import_time(path):
    # urls.py is where the apps are wired together; everything else only serves them.
    apps = {name for name in imported(path, top_level_only=True) if name.split(".")[0] in ("orders", "voice")}
    assert not apps


def test_importing_the_project_package_and_its_settings_loads_no_app():
    code = (
        "import sys, numbermasking, numbermasking.metrics, numbermasking.logsafe;"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('orders', 'voice')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)  # noqa: S603

    assert result.stdout.strip() == "[]"


PLIVO_FIELDS = re.compile(r'"(CallUUID|DialStatus|HangupCause|HangupCauseName|DialHangupCause|RecordUrl|MessageUUID)"')


@pytest.mark.parametrize(
    "path",
    [path for path in modules("orders") + modules("voice") if "plivo" not in path.relative_to(PROJECT).parts[:2]],
    ids=lambda path: str(path.relative_to(PROJECT)),
)
def test_no_plivo_field_name_is_read_outside_voice_plivo(path):
    assert not PLIVO_FIELDS.findall(path.read_text())


# The test suite's own layout (docs/architecture.md, "Tests"): each module in the directory of what it
# tests, helpers as plain modules in tests/support, fixtures only in conftest.py.
TESTS = PROJECT / "tests"
TEST_DIRECTORIES = {"orders", "voice", "api", "system"}


def test_every_test_module_is_in_a_domain_directory():
    misplaced = [str(path.relative_to(TESTS)) for path in TESTS.rglob("test_*.py")]
    assert [path for path in misplaced if path.split("/")[0] not in TEST_DIRECTORIES or path.count("/") != 1] == []


def test_every_test_directory_is_a_package():
    # A directory of data only (the vendored axe-core script) is no package and needs none.
    directories = [TESTS, *(path.parent for path in TESTS.rglob("*.py") if path.parent.name != "__pycache__")]
    assert [str(path) for path in directories if not (path / "__init__.py").exists()] == []


def test_no_test_imports_from_a_conftest():
    importers = [path for path in TESTS.rglob("*.py") if any("conftest" in name for name in imported(path))]
    assert [str(path.relative_to(TESTS)) for path in importers] == []


def test_conftest_files_hold_only_fixtures():
    not_fixtures = []
    for path in TESTS.rglob("conftest.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import | ast.ImportFrom) or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # the docstring
            ):
                continue
            decorators = [ast.unparse(decorator) for decorator in getattr(node, "decorator_list", [])]
            if not any(decorator.startswith("pytest.fixture") for decorator in decorators):
                not_fixtures.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert not_fixtures == []
