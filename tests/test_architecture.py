"""The shape of the code: the layering (import-linter), every module saying what it owns, no
function over 80 lines, a long module saying why, and the tests mirroring the package."""

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO

ROOT = REPO


def test_lower_layers_never_import_higher_ones():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    res = subprocess.run(
        [exe, str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": str(Path(sys.executable).parent)},
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout, res.stdout


def test_every_module_says_what_it_owns():
    missing = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "src" / "mixsig").rglob("*.py")
        if not p.read_text().lstrip().startswith('"""')
    ]
    assert not missing, f"modules without a docstring: {missing}"


SRC = ROOT / "src" / "mixsig"
MAX_FUNCTION_LINES, LONG_MODULE_LINES = 80, 420


def _sizes():
    import ast

    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        yield path, text.count("\n"), ast.get_docstring(tree) or "", tree


def test_no_function_is_over_80_lines():
    import ast

    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
        for path, _, _, tree in _sizes()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_a_long_module_says_why_in_its_docstring():
    unexplained = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for path, n, doc, _ in _sizes()
        if n > LONG_MODULE_LINES and "lines" not in doc
    ]
    assert not unexplained, f"modules over {LONG_MODULE_LINES} lines, no reason: {unexplained}"


def test_the_tests_mirror_the_package():
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    tests = ROOT / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert packages <= folders, f"packages without a test folder: {sorted(packages - folders)}"
    repository_wide = {"test_architecture.py", "test_readme.py", "test_documented_paths.py"}
    misplaced = [
        str(f.relative_to(tests))
        for f in tests.rglob("test_*.py")
        if not (
            f.parent == tests
            and f.name in repository_wide
            or f.relative_to(tests).parts[0] in packages | {"benchmarks"}
        )
    ]
    assert not misplaced, f"test files outside the package's mirror: {misplaced}"
