"""The benchmark scripts run (a smoke test, not a timing: timings live in the README)."""

import importlib.util
import json

from helpers import REPO

ROOT = REPO


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_layers_quick_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    assert _load("bench_layers").main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["ratio_vs_float"]) >= {"mixsig", "brevitas", "aihwkit_lightning"}
    r = data["ratio_vs_float"]["mixsig"]
    assert r is not None and r > 0  # mixsig itself is never skipped
    for peer, ratio in data["ratio_vs_float"].items():
        assert ratio is None or ratio > 0, peer
        assert (ratio is None) == (peer in data["skipped"]), peer


def test_bench_eval_quick_writes_its_json(tmp_path):
    out = tmp_path / "eval.json"
    assert _load("bench_eval").main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["ratio_mc_vs_float"] > 0 and data["rounds"] == 2
    # the decomposition counts every noise value: 20 draws × 200 images × the
    # small CNN's 8·24·24 + 16·8·8 + 10 analog outputs per image
    assert data["normal_values"] == 20 * 200 * (8 * 24 * 24 + 16 * 8 * 8 + 10)
    assert data["ratio_draws_only_vs_float"] > 0 and data["ratio_without_draws_vs_float"] > 0
    optical = data["optical"]
    assert optical["ratio_mc_vs_float"] > 0 and optical["ratio_without_fast_path"] > 0
