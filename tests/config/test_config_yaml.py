"""Config files: the one YAML reader (`mixsig.config.read_yaml`) and what it refuses, naming the
file: duplicate keys (with the key and both lines), malformed YAML, non-UTF-8 text, empty or
non-mapping documents; `check_config_file` tells hardware, run and sweep configs apart and
checks each as `mixsig check-config` does."""

from pathlib import Path

import pytest
from helpers import REPO

from mixsig import ConfigError, load_hardware
from mixsig.config import load_yaml
from mixsig.train import TrainConfig

ROOT = REPO
HARDWARE = sorted((ROOT / "configs").glob("*.yaml"))
RUNS = sorted((ROOT / "configs" / "runs").glob("*.yaml"))
SWEEPS = sorted((ROOT / "configs" / "sweeps").glob("*.yaml"))


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# -- duplicate keys ---------------------------------------------------------------------------


def test_a_duplicate_key_is_refused_naming_the_key_and_both_lines(tmp_path):
    path = write(tmp_path, "hw.yaml", "adc:\n  bits: 4\n  range: calibrated\n  bits: 3\n")
    with pytest.raises(ConfigError) as err:
        load_hardware(path)  # PyYAML alone keeps the last: a 3-bit ADC, silently
    msg = str(err.value)
    assert str(path) in msg and "duplicate key 'bits' on line 4 (first given on line 2)" in msg


def test_a_duplicate_top_level_section_of_a_run_config_is_refused(tmp_path):
    text = "method: {name: P}\nseed: 1\nmethod: {name: B1}\n"
    with pytest.raises(ConfigError, match=r"duplicate key 'method' on line 3 \(first .* 1\)"):
        load_yaml(write(tmp_path, "run.yaml", text), TrainConfig)


def test_merge_keys_may_still_be_overridden(tmp_path):
    from mixsig.config import read_yaml

    text = "base: &b {bits: 4, signed: false}\nadc:\n  <<: *b\n  bits: 3\n"
    assert read_yaml(write(tmp_path, "m.yaml", text)) == {
        "base": {"bits": 4, "signed": False},
        "adc": {"bits": 3, "signed": False},
    }


# -- unreadable files -------------------------------------------------------------------------


def test_malformed_yaml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, "run.yaml", "seed: 1\nmethod: {name: P\n")
    with pytest.raises(ConfigError, match=r"run\.yaml is not valid YAML[\s\S]*line 3"):
        load_yaml(path, TrainConfig)


def test_non_utf8_yaml_is_refused_naming_the_file(tmp_path):
    path = write(tmp_path, "hw.yaml", "# caméra\nadc: {bits: 4}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"hw\.yaml is not UTF-8 text \(byte 0xe9 at offset 5\)"):
        load_hardware(path)


def test_a_utf8_byte_order_mark_is_fine(tmp_path):
    path = write(tmp_path, "hw.yaml", "\ufeffadc: {bits: 3}\n".encode())
    assert load_hardware(path).adc.bits == 3


@pytest.mark.parametrize(
    "text",
    [
        "date: 2020-13-45\n",  # a timestamp PyYAML cannot build: ValueError
        "[" * 3000 + "]" * 3000 + "\n",  # nesting too deep: RecursionError
        "adc: !!python/object/apply:os.system ['echo pwned']\n",
    ],
    ids=["bad-date", "deep-nesting", "python-tag"],
)
def test_yaml_the_loader_cannot_build_is_a_config_error(tmp_path, text):
    with pytest.raises(ConfigError, match=r"x\.yaml is not valid YAML"):
        load_hardware(write(tmp_path, "x.yaml", text))


def test_a_folder_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_hardware(tmp_path)


# -- empty and non-mapping documents ----------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "null\n"])
def test_an_empty_run_config_is_refused_not_trained_with_the_defaults(tmp_path, text):
    path = write(tmp_path, "run.yaml", text)
    with pytest.raises(ConfigError, match=r"run\.yaml is empty: a run config is a YAML mapping"):
        load_yaml(path, TrainConfig)


@pytest.mark.parametrize(
    "text, got", [("false\n", "bool False"), ("- seed: 1\n", "list"), ("p_4bit\n", "str")]
)
def test_a_run_config_that_is_not_a_mapping_is_refused(tmp_path, text, got):
    path = write(tmp_path, "run.yaml", text)
    with pytest.raises(
        ConfigError, match=rf"run\.yaml: a run config must be a YAML mapping.*{got}"
    ):
        load_yaml(path, TrainConfig)


def test_an_empty_hardware_config_is_refused_and_braces_take_the_defaults(tmp_path):
    from mixsig.config import HardwareConfig

    with pytest.raises(ConfigError, match=r"hw\.yaml is empty: a hardware config"):
        load_hardware(write(tmp_path, "hw.yaml", ""))
    assert load_hardware(write(tmp_path, "braces.yaml", "{}\n")) == HardwareConfig()


def test_load_train_config_reads_the_example_runs():
    from mixsig.train.config import load_train_config

    assert RUNS, "configs/runs/ holds the example run configs"
    for path in RUNS:
        assert load_train_config(path).name == path.stem


# -- YAML values that pydantic would have converted -------------------------------------------


@pytest.mark.parametrize(
    "text, field",
    [
        ("adc: {bits: true}\n", "adc.bits"),
        ("noise: {seed: 1e23}\n", "noise.seed"),  # a string to YAML 1.1
        ("noise: {seed: 1.0e23}\n", "noise.seed"),  # a float
        ("adc: {gain: {init: 1.0e39}}\n", "adc.gain.init"),
    ],
)
def test_yaml_numbers_out_of_range_are_refused_naming_file_and_field(tmp_path, text, field):
    path = write(tmp_path, "hw.yaml", text)
    with pytest.raises(ConfigError, match=rf"hw\.yaml[\s\S]*  {field.replace('.', '[.]')}:"):
        load_hardware(path)


# -- check_config_file: the three kinds -------------------------------------------------------


def _check(path, kind=None):
    from mixsig.experiments.sweep import load_sweep
    from mixsig.train.config import check_config_file

    return check_config_file(path, kind, load_sweep=load_sweep)


@pytest.mark.parametrize("path", HARDWARE, ids=lambda p: p.name)
def test_check_config_file_tells_a_hardware_config(path):
    from mixsig.config import HardwareConfig

    kind, cfg = _check(path)
    assert kind == "hardware" and isinstance(cfg, HardwareConfig)


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.name)
def test_check_config_file_tells_a_run_config_and_resolves_its_hardware(path):
    from mixsig.config import HardwareConfig

    kind, cfg = _check(path)
    assert kind == "run" and isinstance(cfg, TrainConfig)
    assert isinstance(cfg.hardware, HardwareConfig)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_check_config_file_tells_a_sweep_and_expands_it(path):
    kind, (spec, runs) = _check(path)
    assert kind == "sweep" and runs and all(isinstance(r.config, TrainConfig) for r in runs)


def test_check_config_file_refuses_what_it_cannot_tell(tmp_path):
    from mixsig.train.config import check_config_file, config_kind

    with pytest.raises(ConfigError, match=r"cannot tell which kind.*keys: speed"):
        check_config_file(write(tmp_path, "x.yaml", "speed: 3\n"))
    with pytest.raises(ConfigError, match=r"cannot tell which kind.*keys: none"):
        check_config_file(write(tmp_path, "e.yaml", "{}\n"))
    assert check_config_file(tmp_path / "e.yaml", "run")[1] == TrainConfig()
    with pytest.raises(ConfigError, match="unknown config kind 'camera'"):
        check_config_file(tmp_path / "e.yaml", "camera")
    with pytest.raises(ConfigError, match="load_sweep"):
        check_config_file(write(tmp_path, "s.yaml", "base: {}\n"))
    assert config_kind({"adc": {}, "noise": {}}) == "hardware"
    assert config_kind({"name": "x", "hardware": {}}) == "run"
    assert config_kind({"name": "x", "base": "run.yaml"}) == "sweep"


def test_check_config_file_refuses_a_run_whose_chain_is_not_finite(tmp_path):
    from mixsig.train.config import check_config_file

    poly = "{kind: polynomial, coeffs: [" + ", ".join(["1000"] * 16) + "]}"
    hw = write(tmp_path, "hw.yaml", f"distortion: [{poly}, {poly}, {poly}]\n")
    run = write(tmp_path, "run.yaml", f"name: r\nhardware: {hw.name}\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: invalid hardware[\s\S]*distortion\[1\]"):
        check_config_file(run)
    with pytest.raises(ConfigError, match=r"hw\.yaml: invalid hardware[\s\S]*distortion\[1\]"):
        check_config_file(hw)
