"""benchmarks/gpu_check.py stays runnable where no GPU is: CPU against CPU, every check passes
and the JSON names them; a failing check makes the exit status 1."""

import importlib.util
import json

from helpers import REPO


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_cpu_against_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    mod = _load()
    assert mod.main(["--device", "cpu", "--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    names = [c["check"] for c in data["checks"]]
    assert names == ["forward", "training step", "monte carlo", "cross-device run", "no host sync"]
    assert all(c["ok"] for c in data["checks"])
    forward = data["checks"][0]
    assert forward["argmax_differ"] == 0.0 and forward["max_abs"] == 0.0  # same device: exact


def test_a_failing_check_fails_the_script(tmp_path, monkeypatch):
    mod = _load()
    monkeypatch.setattr(mod, "check_training_step", lambda device: {"check": "x", "ok": False})
    assert mod.main(["--device", "cpu", "--quick"]) == 1
