"""The scripts in examples/ run as a user runs them: each with the environment's Python, from
an empty working directory, with its default arguments, ending with status 0 and printing its
key line."""

import os
import subprocess
import sys

import pytest
from helpers import REPO

EXAMPLES = {
    "convert_your_model.py": r"on the chain, after 1 hardware-aware epoch: 0\.\d+ ± 0\.\d+",
    "train_with_chain_from_yaml.py": r"accuracy on the chain: .* after 40 steps",
    "monte_carlo_eval.py": r"\s+2\.0\s+0\.\d+ ± 0\.\d+",
    "export_doe.py": r"read back: max \|Δφ\| = 0\.0e\+00 rad",
}


def test_every_example_is_tested():
    scripts = {p.name for p in (REPO / "examples").glob("*.py")}
    assert scripts == set(EXAMPLES) | {"my_model.py"}  # my_model: tests/models/test_factory_cli


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_the_example_runs(script, tmp_path):
    import re

    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # a busy 2-core CPU: one thread is faster
    res = subprocess.run(
        [sys.executable, str(REPO / "examples" / script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(EXAMPLES[script], res.stdout), res.stdout
    if script == "export_doe.py":  # its files, in the working directory
        names = {p.name for p in (tmp_path / "doe_export").iterdir()}
        assert {"doe.safetensors", "doe.gds", "doe_height.tif", "doe_README.txt"} <= names
