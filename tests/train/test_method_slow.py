"""Slow end to end (issue: training and evaluation): on the bundled MNIST digits with a 4-bit
chain, P at 0.5 LSB stays equivalent to its noise-free quantized accuracy; B1 does not."""

import pytest
import yaml
from helpers import REPO

from mixsig.train import TrainConfig, run_training

RUNS = REPO / "configs" / "runs"


@pytest.mark.slow
def test_p_is_equivalent_at_half_an_lsb_and_b1_is_not(tmp_path):
    out = {}
    for name in ("p_4bit", "b1_4bit"):
        data = yaml.safe_load((RUNS / f"{name}.yaml").read_text())
        data["eval"] = {"draws": 20, "sigma_test_lsb": [0.5]}
        cfg = TrainConfig.model_validate(data)
        out[name] = run_training(
            cfg, tmp_path / name, progress=False, echo=lambda s: None, config_dir=RUNS
        )
    p, b1 = out["p_4bit"]["results"][0], out["b1_4bit"]["results"][0]
    assert p["equivalent"], (p["mean"], out["p_4bit"]["noise_free_quantized_accuracy"])
    assert not b1["equivalent"], (b1["mean"], out["b1_4bit"]["noise_free_quantized_accuracy"])
    assert p["mean"] > b1["mean"]
