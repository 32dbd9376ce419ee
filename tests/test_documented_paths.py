"""The documented path works: every repository path that README.md, docs/ and the commands'
--help texts name exists, and every example config validates.

A path is a token starting with one of the repository's folders (configs/, docs/, benchmarks/,
src/, tests/, examples/, .ci/). What a command writes is not expected to exist: a path given to
``--out`` / ``--json`` in any of these texts, the files ``mixsig calibrate --out X.yaml`` writes
beside X (``X.maps.npz``, ``X_report/``), and paths under ``runs/`` (the ignored output folder).
"""

import re

import pytest
import typer
from helpers import REPO
from typer.testing import CliRunner

from mixsig.cli.main import app
from mixsig.config import load_yaml
from mixsig.experiments.sweep import load_sweep
from mixsig.signal import build_chain
from mixsig.train import TrainConfig

ROOT = REPO
FOLDERS = ("configs", "docs", "benchmarks", "src", "tests", "examples", ".ci")
_ALTERNATIVES = "|".join(re.escape(f) for f in FOLDERS)
PATH = re.compile(rf"(?<![\w./-])((?:{_ALTERNATIVES})/[\w.*<>/-]*[\w*>/])")
OUTPUT = re.compile(r"--(?:out|json)[ =]+([\w./<>-]+)")


def _texts() -> dict[str, str]:
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for page in sorted((ROOT / "docs").rglob("*.md")):
        texts[str(page.relative_to(ROOT))] = page.read_text()
    runner = CliRunner()
    for name in typer.main.get_command(app).commands:
        res = runner.invoke(app, [name, "--help"], terminal_width=200)
        assert res.exit_code == 0, res.output
        texts[f"mixsig {name} --help"] = res.output
    return texts


def _outputs(text: str) -> set[str]:
    outs = set()
    for o in OUTPUT.findall(text):
        outs.add(o.rstrip("/"))
        if o.endswith(".yaml"):  # mixsig calibrate --out X.yaml writes its maps and report beside
            outs |= {o[: -len(".yaml")] + ".maps.npz", o[: -len(".yaml")] + "_report"}
    return outs


def _exists(path: str) -> bool:
    if "*" in path or "<" in path:
        return any(ROOT.glob(re.sub(r"<[^>]*>", "*", path)))
    return (ROOT / path).exists()


def test_every_documented_path_exists():
    texts = _texts()
    outputs = set().union(*(_outputs(t) for t in texts.values()))  # what documented commands write
    missing = []
    for where, text in texts.items():
        for path in PATH.findall(text):
            path = path.rstrip("/.")
            if path in outputs or path.rstrip("/") in outputs:
                continue
            if not _exists(path):
                missing.append(f"{where}: {path}")
    assert not missing, "documented paths that are not in the repository:\n" + "\n".join(missing)


def test_the_path_finder_finds_paths_and_knows_outputs():
    text = "`mixsig calibrate lab/c --out configs/cam.yaml`, configs/cam_report/ and docs/x.png."
    assert PATH.findall(text) == ["configs/cam.yaml", "configs/cam_report/", "docs/x.png"]
    assert {"configs/cam.yaml", "configs/cam.maps.npz", "configs/cam_report"} <= _outputs(text)
    assert not PATH.findall("../shared/docs/design.md")  # outside the repository


@pytest.mark.parametrize("path", sorted(ROOT.glob("configs/*.yaml")), ids=lambda p: p.name)
def test_every_hardware_example_validates_and_builds(path):
    build_chain(load_yaml(path))


@pytest.mark.parametrize("path", sorted(ROOT.glob("configs/runs/*.yaml")), ids=lambda p: p.name)
def test_every_run_config_validates(path):
    cfg = load_yaml(path, TrainConfig)
    assert cfg.name == path.stem  # runs/<name> is where `mixsig train` puts it
    build_chain(cfg.resolved_hardware(path.parent))


@pytest.mark.parametrize("path", sorted(ROOT.glob("configs/sweeps/*.yaml")), ids=lambda p: p.name)
def test_every_sweep_spec_expands(path):
    spec, runs = load_sweep(path)
    assert runs and spec.name == path.stem


def _yaml_blocks():
    for page in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S):
            yield page.relative_to(REPO), block


@pytest.mark.parametrize("where, block", list(_yaml_blocks()), ids=lambda v: str(v)[:30])
def test_every_yaml_example_in_the_docs_validates(where, block):
    """A sweep spec (it has ``base``) expands from the repository's root; anything else is a
    hardware config whose chain builds."""
    import yaml

    from mixsig.config import HardwareConfig, SweepConfig, validate
    from mixsig.experiments.sweep import expand

    data = yaml.safe_load(block)
    if "base" in data:
        assert expand(validate(SweepConfig, data, source=str(where)), REPO)
    else:
        build_chain(validate(HardwareConfig, data, source=str(where)))
