"""The plans of `mixsig reproduce`: each expands to the run count its docstring states, the
bundled plans are those of before the full sets came (same spec, same run keys), and the
full-set plans hold P and B1–B4 over bits, σ_train and σ_test, with the whole test set and ≥ 20
draws."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mixsig.experiments import plans
from mixsig.experiments.plans import (
    FINE_SIGMA_TEST,
    QUICK_SIGMA_TEST,
    SET_SIGMA_TRAIN,
    STANDARD_BITS,
    plan,
)
from mixsig.experiments.reproduce import describe_plan, plan_runs
from mixsig.experiments.sweep import SweepConfig, expand

PLANS_BEFORE = Path(__file__).with_name("reproduce_bundled_plans.json")
ROOT = "/nonexistent/data"  # expanding reads no data


def _runs(spec: dict):
    return expand(SweepConfig.model_validate(spec), Path.cwd())


@pytest.mark.parametrize(
    "fn,args,said",
    [
        (
            plans.bundled_quick,
            (),
            "41 runs (47 listed: 6 appear under two tags and run once), 4 float pre-trainings",
        ),
        (
            plans.bundled_full,
            (),
            "237 runs (243 listed: 6 appear under two tags and run once), 6 float pre-trainings",
        ),
        (plans.full_set_quick, ("mnist", ROOT), "12 runs, 3 float pre-trainings"),
        (
            plans.full_set_standard,
            ("mnist", ROOT),
            "84 runs (91 listed: 7 appear under two tags and run once), 8 float pre-trainings",
        ),
        (
            plans.full_set_full,
            ("fashion-mnist", ROOT),
            "231 runs (240 listed: 9 appear under two tags and run once), 18 float pre-trainings",
        ),
    ],
)
def test_each_plan_expands_to_the_run_count_its_docstring_states(fn, args, said):
    runs = _runs(fn(*args))
    assert describe_plan(runs) == said + " shared among them"
    n, pre = int(said.split()[0]), re.search(r"(\d+) float pre-trainings", said).group(1)
    doc = " ".join(fn.__doc__.split())
    assert re.search(rf"\b{n} runs\b", doc), (fn.__name__, n)
    assert re.search(rf"\b{pre} float pre-trainings", doc), (fn.__name__, pre)


@pytest.mark.parametrize("which,quick", [("quick", True), ("full", False)])
def test_the_bundled_plans_are_those_of_before_the_full_sets(which, quick):
    """The specs `mixsig reproduce [--quick]` ran before --data and --plan existed, stored as
    they were, and today's expand to the same runs under the same keys, tags and labels: a
    stored run is found again."""
    before = json.loads(PLANS_BEFORE.read_text())[which]
    expected = [[r.key, r.tag, r.labels] for r in _runs(before)]
    assert len(expected) == {"quick": 47, "full": 243}[which]
    for spec in (plan(quick), plan(data="bundled-mnist", kind=which)):
        assert json.loads(json.dumps(spec)) == before
        assert [[r.key, r.tag, r.labels] for r in _runs(spec)] == expected
    if which == "full":  # the bundled standard plan is the full one (41.5 min on 2 cores)
        assert plan(kind="standard") == plan(kind="full") == plan()


def _by(runs, tag="methods"):
    return {
        (
            r.config.method.name,
            r.config.hardware.adc.bits,
            r.config.sigma_train,
            r.config.seed,
            tuple(r.config.eval.sigma_test_lsb),
        )
        for r in runs
        if r.tag == tag
    }


def test_the_standard_plan_on_a_full_set_holds_every_method_bit_depth_and_sigma_train():
    runs = _runs(plans.full_set_standard("mnist", ROOT))
    fine, five = tuple(FINE_SIGMA_TEST), tuple(QUICK_SIGMA_TEST)
    assert fine == (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    got = _by(runs)
    for bits in STANDARD_BITS:
        for seed in range(3):
            for st in SET_SIGMA_TRAIN:  # P at every σ_train, the fine grid where noise trains
                assert ("P", bits, st, seed, fine if st else five) in got
            for m in ("B1", "B2", "B4"):
                assert (m, bits, 0.5, seed, five) in got
            assert ("B3", bits, 1.0, seed, five) in got
    assert len(got) == 72
    for r in runs:
        c = r.config
        assert c.data.name == "mnist" and c.data.root == ROOT
        assert c.data.limit_train is None and c.data.limit_test is None  # the whole sets
        assert c.eval.draws >= 20 and c.hardware.dac.bits == 4
        assert c.pretrain.epochs >= 1 and c.aware.epochs >= 1
    realistic = [r for r in runs if r.labels.get("distortion") == "realistic"]
    assert {(r.config.method.name, r.config.seed) for r in realistic} == {
        (m, s) for m in ("P", "B1") for s in range(3)
    }
    optical = [r for r in runs if r.tag == "optical"]
    assert {(r.config.model.name, r.config.method.name, r.config.seed) for r in optical} == {
        ("optical_cnn", "P", 0),
        ("optical_cnn", "B1", 0),
    }
    # the camera's range is calibrated: a learned Δ of ~1e-4 (8 bits) is moved by Adam's
    # absolute steps of ~lr and the network fell to chance; the digital runs keep LSQ
    cameras = [r for r in runs if r.tag in ("optical", "energy")]
    assert {r.config.hardware.adc.bits for r in cameras if r.tag == "energy"} == {2, 3, 4, 6, 8}
    assert {r.config.hardware.adc.range for r in cameras} == {"calibrated"}
    assert {r.config.hardware.adc.range for r in runs if r.tag == "methods"} == {"learned"}
    # the undistorted references of the distortion study are runs of the methods comparison
    methods = {r.key for r in runs if r.tag == "methods"}
    assert {r.key for r in runs if r.labels.get("distortion") == "none"} <= methods


def test_quick_is_part_of_standard_and_standards_p_runs_are_part_of_full():
    quick = {r.key for r in _runs(plans.full_set_quick("mnist", ROOT))}
    standard = _runs(plans.full_set_standard("mnist", ROOT))
    full = {r.key for r in _runs(plans.full_set_full("mnist", ROOT))}
    assert quick <= {r.key for r in standard}
    fine_p = {
        r.key
        for r in standard
        if r.tag == "methods" and r.config.method.name == "P" and r.config.sigma_train > 0
    }
    assert len(fine_p) == 27 and fine_p <= full


def test_the_full_plan_covers_every_bit_depth_and_sigma_train_on_the_fine_grid():
    runs = _runs(plans.full_set_full("fashion-mnist", ROOT))
    got = _by(runs)
    fine = tuple(FINE_SIGMA_TEST)
    for bits in (2, 3, 4, 5, 6, 8):
        for seed in range(3):
            assert {("P", bits, st, seed, fine) for st in SET_SIGMA_TRAIN} <= got
            assert {("B3", bits, st, seed, fine) for st in SET_SIGMA_TRAIN[1:]} <= got
            assert {(m, bits, 0.5, seed, fine) for m in ("B1", "B2", "B4")} <= got
    kinds = {r.labels["distortion"] for r in runs if r.tag == "distortion"}
    assert kinds == {"none", "realistic", "gamma", "prnu", "crosstalk"}
    assert {r.config.seed for r in runs if r.tag == "optical"} == {0, 1, 2}
    assert all(r.config.eval.sigma_test_lsb == list(fine) for r in runs)


def test_several_data_sets_expand_side_by_side_and_bad_names_are_refused():
    title, runs = plan_runs(["mnist", "fashion-mnist"], "quick", root="data")
    assert title == "reproduce-mnist-quick + reproduce-fashion-mnist-quick"
    assert len(runs) == 24 and {r.config.data.name for r in runs} == {"mnist", "fashion-mnist"}
    assert {r.config.data.root for r in runs} == {"data"}
    from mixsig.errors import MixsigError

    with pytest.raises(MixsigError, match="data must be one of bundled-mnist, mnist"):
        plan(data="cifar10")
    with pytest.raises(MixsigError, match="plan must be one of quick, standard, full"):
        plan(kind="huge")
    with pytest.raises(MixsigError, match="plan must be one of"):
        plan(True, kind="full")


def test_the_energy_seeds_sweep_holds_the_standard_plans_energy_runs_under_their_keys():
    """configs/sweeps/full_set_energy.yaml adds seeds 1 and 2 beside the plan's seed-0 energy
    runs in the plan's folder: its seed-0 runs must be the plan's, key for key (root `data`)."""
    from mixsig.experiments.sweep import load_sweep

    repo = Path(__file__).resolve().parents[2]
    _, extra = load_sweep(repo / "configs" / "sweeps" / "full_set_energy.yaml")
    _, runs = plan_runs(["mnist", "fashion-mnist"], "standard", root="data")
    planned = {r.key for r in runs if r.tag == "energy"}
    assert len(planned) == 10
    assert {r.key for r in extra if r.config.seed == 0} == planned
    assert len(extra) == 30 and {r.config.seed for r in extra} == {0, 1, 2}
