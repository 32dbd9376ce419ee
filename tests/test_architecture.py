"""The package's layering (config → signal → nn → models → train → cli) holds: import-linter."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


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
