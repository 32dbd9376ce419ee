"""The README's API example runs as written (and trains through the noisy chain)."""

import re

import torch
from helpers import REPO

README = REPO / "README.md"


def test_readme_api_example_runs(capsys):
    text = README.read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    torch.manual_seed(0)
    exec(compile(block, "README.md", "exec"), {})
    mean, std = eval(capsys.readouterr().out.strip().splitlines()[-1])
    assert mean > 0.9 and std < 0.03


def test_readme_names_the_two_setup_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
