"""Fuzz of the hardware schema, read off the schema itself.

* Every config whose values lie inside the ranges the schema documents builds a chain that
  maps its whole ADC input range to finite values, forward (training and evaluation) and
  backward; a build that refuses does so with a `ConfigError` naming the field.
* Every value outside those ranges (or of the wrong type: a bool or float where an int is
  expected, NaN, ±inf) is refused with a `ConfigError` naming the field path.

The strategies are derived from the pydantic models (types, ``Literal`` choices, ``ge``/``gt``/
``le``/``lt`` bounds, list lengths), so a new field or a changed bound is fuzzed without
touching this file. Cross-field rules that bounds cannot express (lo < hi, a LUT's monotone
knots, measured-maps files) are applied by `_fixup`.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Annotated, Any, Literal, Union

import annotated_types as at
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mixsig.config import ConfigError, HardwareConfig, validate
from mixsig.config.hardware import LUT_MIN_SPACING, RANGE_MIN_SPAN
from mixsig.signal.build import build_chain
from mixsig.signal.chain import build_dac

FAST = settings(
    max_examples=500,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SLOW = settings(
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
MAX_LIST = 4  # longest list drawn where the schema sets no maximum (distortions, coefficients)


# -- the schema, read ------------------------------------------------------------------------


def _bounds(meta: list) -> dict[str, Any]:
    """The annotated-types bounds in ``meta`` as a dict (ge, gt, le, lt, min_len, max_len)."""
    out: dict[str, Any] = {}
    for m in meta:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            if hasattr(m, name) and isinstance(m, at.BaseMetadata):
                out[name] = getattr(m, name)
    return out


def _unwrap(tp: Any, meta: list) -> tuple[Any, list]:
    """``tp`` without its ``Annotated`` layers, their constraints appended to ``meta``."""
    while typing.get_origin(tp) is Annotated:
        base, *extra = typing.get_args(tp)
        meta = list(meta)
        for e in extra:
            meta.extend(e.metadata if isinstance(e, FieldInfo) else [e])
        tp = base
    return tp, meta


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _strict(meta: list) -> bool:
    return any(type(m).__name__ == "Strict" and getattr(m, "strict", False) for m in meta)


# -- in-range strategies ----------------------------------------------------------------------


def _floats(b: dict) -> st.SearchStrategy:
    lo = b.get("ge", b.get("gt"))
    hi = b.get("le", b.get("lt"))
    return st.floats(
        min_value=lo,
        max_value=hi,
        exclude_min="gt" in b,
        exclude_max="lt" in b,
        allow_nan=False,
        allow_infinity=False,
    )


def _ints(b: dict) -> st.SearchStrategy:
    lo = b.get("ge", None if "gt" not in b else b["gt"] + 1)
    hi = b.get("le", None if "lt" not in b else b["lt"] - 1)
    return st.integers(min_value=lo, max_value=hi)


def in_range(tp: Any, meta: list = ()) -> st.SearchStrategy:
    """Values of type ``tp`` inside the constraints ``meta`` (and those inside ``tp``)."""
    tp, meta = _unwrap(tp, list(meta))
    b = _bounds(meta)
    if tp is type(None):
        return st.none()
    if _is_union(tp):
        return st.one_of([in_range(a, meta) for a in typing.get_args(tp)])
    if typing.get_origin(tp) is Literal:
        return st.sampled_from(typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return model_in_range(tp)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return _ints(b)
    if tp is float:
        return _floats(b)
    if tp is str:
        return st.none()  # the only strings of the hardware schema name maps files: not fuzzed
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return st.lists(
            in_range(item),
            min_size=b.get("min_length", 0),
            max_size=min(b.get("max_length", MAX_LIST), MAX_LIST),
        )
    if origin is tuple:
        return st.tuples(*(in_range(a) for a in typing.get_args(tp)))
    raise TypeError(f"no strategy for {tp!r}")


def _fixup(cls: type[BaseModel], d: dict) -> dict:
    """Apply the cross-field rules of ``cls`` (model validators) to the drawn values ``d``."""
    names = cls.model_fields
    if "range" in names and "lo" in names:  # a quantizer
        if d.get("range", names["range"].default) == "fixed":
            lo, hi = sorted((d.get("lo") or 0.0, d.get("hi") or 1.0))
            assume(hi - lo >= RANGE_MIN_SPAN and lo < hi)
            d["lo"], d["hi"] = lo, hi
        else:
            d.pop("lo", None)
            d.pop("hi", None)
    if "maps" in names:  # measured maps name files: never fuzzed
        d.pop("maps", None)
        d.pop("sensor_axis_px", None)
    if "inputs" in names and "values" in names:  # a LUT: strictly increasing, non-decreasing
        n = min(len(d["inputs"]), len(d["values"]))
        xs, ys = sorted(d["inputs"][:n]), sorted(d["values"][:n])
        assume(n >= 2 and all(b - a >= LUT_MIN_SPACING and b > a for a, b in zip(xs, xs[1:])))
        d["inputs"], d["values"] = xs, ys
    return d


def model_in_range(cls: type[BaseModel]) -> st.SearchStrategy:
    """Mappings that validate into ``cls``: every field drawn in range, optional ones at
    random left to their defaults."""
    required, optional = {}, {}
    for name, f in cls.model_fields.items():
        s = in_range(f.annotation, f.metadata)
        if f.is_required() or name == "kind":
            required[name] = s
        else:
            optional[name] = s
    return st.fixed_dictionaries(required, optional=optional).map(lambda d: _fixup(cls, d))


# -- the chain, run across its ADC range ------------------------------------------------------


def _calibration_data(scale: float, signed: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, generator=g) * scale
    return (2 * x - scale) if signed else x


def _grid(lo: float, hi: float, gain: float) -> torch.Tensor:
    """The ADC's input range [lo, hi] (endpoints included) in the chain's input units, as a
    batch of images (N, C, H, W) that every distortion accepts."""
    x = torch.linspace(lo, hi, 256, dtype=torch.float64) / gain
    return x.float().reshape(4, 1, 8, 8)


def _finite(name: str, t: torch.Tensor | None) -> None:
    assert t is None or bool(torch.isfinite(t).all()), f"{name} is not finite"


def run_chain(hw: HardwareConfig, scale: float) -> None:
    """Build ``hw``'s chain (calibrating it on data of ``scale`` when its range is not fixed)
    and check forward (evaluation, training, training without output quantization) and
    backward are finite across the ADC's whole input range."""
    chain = build_chain(hw)
    chain.noise.source = "exact"  # the pool holds the same N(0, 1) draws: 2^20 of them is slow
    with torch.no_grad():
        chain.eval()
        if not bool(chain.adc.calibrated):
            chain.adc.observer.method = "max"  # the range is under test, not the rule setting it
            chain.start_observing()
            chain(_calibration_data(scale, bool(chain.adc.signed)).reshape(4, 1, 8, 8))
            chain.finish_observing()
        g = 1.0 if chain.gain is None else float(chain.gain.gain.detach())
        lo, hi = float(chain.adc.lo.detach()), float(chain.adc.hi.detach())
        assert math.isfinite(lo) and math.isfinite(hi)
        x = _grid(lo, hi, g)
        _finite("evaluation output", chain(x))
    chain.train()
    x.requires_grad_(True)
    y = chain(x)
    _finite("training output", y)
    if y.requires_grad:  # a constant transfer curve (coeffs [c]) leaves nothing to differentiate
        y.sum().backward()
        _finite("input gradient", x.grad)
    for name, p in chain.named_parameters():
        _finite(f"gradient of {name}", p.grad)
    chain.quantize_output = False
    with torch.no_grad():
        _finite("output without ADC rounding", chain(x))
    dac = build_dac(hw)
    if dac is not None:
        with torch.no_grad():
            if not bool(dac.calibrated):
                dac.observer.method = "max"
                dac.start_observing()
                dac(_calibration_data(scale, dac.signed))
                dac.finish_observing()
            _finite("DAC output", dac(torch.linspace(float(dac.lo), float(dac.hi), 64)))


def _names_a_field(msg: str) -> bool:
    fields = ("adc", "dac", "noise", "weights", "distortion")
    return any(f"  {f}" in msg or f" {f}." in msg or f" {f}[" in msg for f in fields)


def check_in_range(data: dict, scale: float) -> bool:
    """True when the chain of ``data`` is finite everywhere; False when the build-time check
    refused it (a combination no single range excludes) with a message naming the field."""
    hw = validate(HardwareConfig, data)  # in range: must validate
    try:
        run_chain(hw, scale)
    except ConfigError as err:
        assert _names_a_field(str(err)), str(err)
        event("refused by the build-time finiteness check")
        return False
    return True


SCALES = st.sampled_from([1e-3, 1.0, 1e3])  # data scales a calibrated range is set from


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread is fastest and immune to a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@FAST
@given(data=model_in_range(HardwareConfig), scale=SCALES)
def test_configs_in_range_give_finite_chains(data, scale):
    check_in_range(data, scale)


@pytest.mark.slow
@SLOW
@given(data=model_in_range(HardwareConfig), scale=SCALES)
def test_configs_in_range_give_finite_chains_many(data, scale):
    check_in_range(data, scale)


# -- out of range -----------------------------------------------------------------------------


def _branches(tp: Any) -> list:
    """The alternatives of ``tp`` (its union members, ``None`` left out), unwrapped."""
    tp, meta = _unwrap(tp, [])
    args = typing.get_args(tp) if _is_union(tp) else (tp,)
    return [_unwrap(a, meta) for a in args if a is not type(None)]


def leaves(cls: type[BaseModel], prefix: tuple = ()) -> list[tuple[tuple, Any, list]]:
    """Every scalar field below ``cls``: (path, type, constraints); a list or tuple of numbers
    contributes its items (index 0 of a list, every position of a tuple), a list of tagged
    models the fields of each model at index 0 (the path then carries the model: ``kind``)."""
    out = []
    for name, f in cls.model_fields.items():
        for tp, meta in _branches(f.annotation):
            meta = list(f.metadata) + meta
            origin = typing.get_origin(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                out += leaves(tp, prefix + (name,))
            elif origin is list:
                for item, imeta in _branches(typing.get_args(tp)[0]):
                    if isinstance(item, type) and issubclass(item, BaseModel):
                        out += leaves(item, prefix + (name, (0, item)))
                    else:
                        out.append((prefix + (name, 0), item, imeta))
            elif origin is tuple:
                for i, a in enumerate(typing.get_args(tp)):
                    t, m = _unwrap(a, [])
                    out.append((prefix + (name, i), t, m))
            elif tp is not str and name != "kind":  # file names and the tag are not numbers
                out.append((prefix + (name,), tp, meta))
    return out


HW_LEAVES = leaves(HardwareConfig)


def dotted(path: tuple) -> str:
    """The path as `ConfigError` names it: ``distortion[0].coeffs[2]``."""
    out = ""
    for p in path:
        if isinstance(p, tuple):
            p = p[0]
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + p
    return out


def out_of_range(tp: Any, meta: list) -> st.SearchStrategy:
    """Values a field of type ``tp`` with constraints ``meta`` must refuse."""
    b = _bounds(meta)
    bad: list[st.SearchStrategy] = []
    if typing.get_origin(tp) is Literal:
        return st.sampled_from(["bogus", 1, True]).filter(lambda v: v not in typing.get_args(tp))
    if tp is bool:
        return st.sampled_from([2, "maybe", 0.5])
    lo, hi = b.get("ge", b.get("gt")), b.get("le", b.get("lt"))
    bad.append(st.sampled_from([math.nan, math.inf, -math.inf, True, False]))
    if tp is float:
        if lo is not None:
            bad.append(st.floats(max_value=lo, exclude_max="ge" in b, allow_nan=False))
        if hi is not None:
            bad.append(st.floats(min_value=hi, exclude_min="le" in b, allow_nan=False))
    if tp is int:  # a float, even an integral one, or a string is refused too
        bad.append(st.sampled_from([0.5, 4.0, 1e23, "4"]))
        if lo is not None:
            bad.append(st.integers(max_value=lo - (0 if "gt" in b else 1)))
        if hi is not None:
            bad.append(st.integers(min_value=hi + (0 if "lt" in b else 1)))
    return st.one_of(bad)


def _set(data: dict, path: tuple, value: Any, draw) -> None:
    """Put ``value`` at ``path`` in the valid config ``data``, creating what is missing (a
    tagged model at a list index is drawn valid first)."""
    node = data
    for i, p in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(p, tuple):  # (index, model) of a tagged list: a valid entry there
            continue
        if isinstance(nxt, tuple):
            node[p] = [draw(model_in_range(nxt[1]))]
            node = node[p][0]
            continue
        if node.get(p) is None:
            node[p] = [0, 0] if isinstance(nxt, int) else {}
        elif isinstance(node[p], tuple):
            node[p] = list(node[p])
        node = node[p]
    node[path[-1]] = value


@st.composite
def bad_configs(draw) -> tuple[dict, str, Any]:
    """A valid hardware mapping with one field set out of its range: (data, path, value)."""
    path, tp, meta = draw(st.sampled_from(HW_LEAVES))
    data: dict = {}  # the defaults around it (the in-range fuzz covers combinations)
    value = draw(out_of_range(tp, meta))
    _set(data, path, value, draw)
    return data, dotted(path), value


def check_refused(data: dict, path: str, value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        validate(HardwareConfig, data)
    assert f"  {path}:" in str(err.value), (path, value, str(err.value))


@FAST
@given(case=bad_configs())
def test_values_out_of_range_are_refused_naming_the_field(case):
    check_refused(*case)


@pytest.mark.slow
@SLOW
@given(case=bad_configs())
def test_values_out_of_range_are_refused_naming_the_field_many(case):
    check_refused(*case)


def _label(leaf: tuple) -> str:
    kinds = [p[1].model_fields["kind"].default for p in leaf[0] if isinstance(p, tuple)]
    return dotted(leaf[0]) + "".join(f"({k})" for k in kinds)


@pytest.mark.parametrize("leaf", HW_LEAVES, ids=_label)
def test_every_number_has_a_documented_range(leaf):
    """Every numeric field of the hardware schema is bounded on both sides."""
    path, tp, meta = leaf
    if tp in (int, float):
        b = _bounds(meta)
        assert ("ge" in b or "gt" in b) and ("le" in b or "lt" in b), dotted(path)
