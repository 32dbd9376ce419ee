"""benchmarks/bench_epoch.py runs and reports the P-over-float epoch ratio and the share of the
data handling (a smoke test: the figures live in the README)."""

import importlib.util
import json

from helpers import REPO


def test_bench_epoch_quick_reports_its_ratios(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "bench_epoch", REPO / "benchmarks" / "bench_epoch.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "epoch.json"
    assert mod.main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["ratio_P_vs_float"] > 0 and 0 < data["data_share_of_float_epoch"] < 1
    assert set(data["seconds"]) == {"data", "float", "P"}
