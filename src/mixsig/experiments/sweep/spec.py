"""A sweep spec expanded into runs: `load_sweep`, `expand` and `SweepRun`.

The spec's schema is `mixsig.config.sweep.SweepConfig`; this module gives it its meaning,
which needs the run config (`TrainConfig`, validated for every run).

The expansion is, for each run entry in order, every grid point in order: the base with the
grid point's values, then the entry's overrides, applied (so an entry overrides the grid on the
same key). A dotted key sets a nested field (``hardware.noise.sigma_lsb``, ``eval.sigma_test_lsb``;
a number indexes a list: ``hardware.distortion.0.gamma``); every key must name a field of the
base (all defaults filled in; below a null section only validation checks the keys). A mapping
value is merged into the section it sets (unless its ``kind`` differs: a different distortion
replaces the old one), any other value replaces it; ``hardware: PATH`` loads that chain. The
base's ``hardware``, when a path, is resolved first (relative to the base's file), so each run
carries its full chain. Each run is validated as a `TrainConfig`; an invalid one raises
`ConfigError` naming the run (index, tag, overrides) and the field path with the allowed range.

Each run is keyed (`mixsig.experiments.sweep.keys.run_key`) and named ``<sweep name>-<key[:8]>``
unless the overrides name it. Expanded runs that are identical (key, tag, labels, name)
collapse into one; runs with the same key but other tags or labels stay apart in the table but
are trained once.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mixsig.config.io import (
    ConfigError,
    format_validation_error,
    load_yaml,
    read_yaml_mapping,
    validate,
)
from mixsig.config.sweep import RESERVED, SweepConfig
from mixsig.experiments.sweep.keys import SweepRun, run_key
from mixsig.experiments.sweep.table import LABEL_COLUMNS, TABLE_COLUMNS
from mixsig.train import TrainConfig


def _merge(old: Any, new: Any) -> Any:
    """``new`` over ``old``: mappings merged key by key (unless their ``kind`` differs)."""
    if isinstance(old, dict) and isinstance(new, dict):
        if "kind" in old and "kind" in new and old["kind"] != new["kind"]:
            return copy.deepcopy(new)
        out = dict(old)
        for k, v in new.items():
            out[k] = _merge(old[k], v) if k in old else copy.deepcopy(v)
        return out
    return copy.deepcopy(new)


def _set_path(d: dict, dotted: str, value: Any, where: str) -> None:
    parts = dotted.split(".")
    node: Any = d
    checked = True  # False below a null section: pydantic checks those keys
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[:i]) or "the config"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"{where}: unknown key {dotted!r}: {here} is a list of {len(node)}, "
                    f"{part!r} is not an index of it"
                )
            slot: Any = int(part)
        elif isinstance(node, dict):
            if checked and part not in node:
                raise ConfigError(
                    f"{where}: unknown key {dotted!r}: {here} has no field {part!r} "
                    f"(fields: {', '.join(sorted(node))})"
                )
            slot = part
        else:
            raise ConfigError(
                f"{where}: unknown key {dotted!r}: {here} is a value ({node!r}), not a section"
            )
        current = node[slot] if isinstance(node, list) or slot in node else None
        if last:
            node[slot] = _merge(current, value)
        else:
            if current is None:
                node[slot] = current = {}
                checked = False
            node = current


def _load_base(spec: SweepConfig, base_dir: Path) -> dict:
    """The base config as a full JSON mapping, its hardware resolved."""
    if isinstance(spec.base, str):
        path = Path(spec.base)
        if not path.is_absolute():
            path = base_dir / path
        cfg = load_yaml(path, TrainConfig)
        hw_dir = path.parent
    else:
        cfg = validate(TrainConfig, spec.base, source=f"sweep {spec.name!r}: base")
        hw_dir = base_dir
    try:
        cfg = cfg.with_resolved_hardware(hw_dir)
    except ConfigError as err:
        raise ConfigError(f"sweep {spec.name!r}: base hardware: {err}") from None
    return cfg.model_dump(mode="json", context={"every_field": True})  # each one may be set


def _check_entry(spec: SweepConfig, j: int, entry: dict) -> tuple[str, dict]:
    tag = entry.get("tag", "")
    if not isinstance(tag, str):
        raise ConfigError(f"sweep {spec.name!r}: runs[{j}].tag must be a string, got {tag!r}")
    labels = entry.get("labels", {}) or {}
    if not isinstance(labels, dict):
        raise ConfigError(
            f"sweep {spec.name!r}: runs[{j}].labels must be a mapping, got {labels!r}"
        )
    for k, v in labels.items():
        if not isinstance(k, str) or (k in TABLE_COLUMNS and k not in LABEL_COLUMNS):
            raise ConfigError(
                f"sweep {spec.name!r}: runs[{j}].labels.{k}: a label may add a column or set "
                f"{' / '.join(LABEL_COLUMNS)}, not replace the column {k!r}"
            )
        if not (v is None or isinstance(v, (str, int, float, bool))):
            raise ConfigError(
                f"sweep {spec.name!r}: runs[{j}].labels.{k} must be a single value, got {v!r}"
            )
    return tag, dict(labels)


def expand(spec: SweepConfig, base_dir: Path) -> list[SweepRun]:
    """Every run of ``spec`` (paths relative to ``base_dir``, the sweep file's folder), each
    validated, keyed and named; identical runs collapse into the first."""
    base_dir = Path(base_dir)
    base = _load_base(spec, base_dir)
    grid_keys = list(spec.grid)
    points = list(itertools.product(*(spec.grid[k] for k in grid_keys)))
    out: list[SweepRun] = []
    seen: set[tuple] = set()
    n = 0
    for j, entry in enumerate(spec.runs):
        tag, labels = _check_entry(spec, j, entry)
        for point in points:
            overrides = dict(zip(grid_keys, point))
            overrides.update({k: v for k, v in entry.items() if k not in RESERVED})
            where = (
                f"sweep {spec.name!r}, run {n} (runs[{j}], tag {tag!r}, overrides {overrides!r})"
            )
            d = copy.deepcopy(base)
            for k, v in overrides.items():
                if k == "hardware" and isinstance(v, str):
                    path = Path(v) if Path(v).is_absolute() else base_dir / v
                    try:
                        v = load_yaml(path).model_dump(mode="json")
                    except ConfigError as err:
                        raise ConfigError(f"{where}: {err}") from None
                    d["hardware"] = v
                    continue
                _set_path(d, str(k), v, where)
            try:
                cfg = TrainConfig.model_validate(d)
            except ValidationError as err:
                raise ConfigError(format_validation_error(err, source=where)) from None
            key = run_key(cfg)
            if "name" not in overrides:
                cfg = cfg.model_copy(update={"name": f"{spec.name}-{key[:8]}"})
            ident = (key, tag, json.dumps(labels, sort_keys=True), cfg.name)
            n += 1
            if ident in seen:
                continue
            seen.add(ident)
            out.append(SweepRun(key, tag, labels, cfg))
    return out


def load_sweep(path: str | os.PathLike) -> tuple[SweepConfig, list[SweepRun]]:
    """Read a sweep YAML (safe loader) and expand it; errors name the file, run and field."""
    path = Path(path)
    data = read_yaml_mapping(path, "sweep spec")
    spec = validate(SweepConfig, data, source=str(path))
    return spec, expand(spec, path.parent)


__all__ = ["SweepRun", "expand", "load_sweep"]
