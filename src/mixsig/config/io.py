"""Reading and writing hardware configs as YAML, with errors that name the field.

Owns the file boundary of `mixsig.config`: `yaml.safe_load` only (never arbitrary objects),
validation errors rewritten as one readable message per field path with the allowed range.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mixsig._atomic import atomic_write_text
from mixsig.config.hardware import DistortionConfig, HardwareConfig, with_absolute_paths
from mixsig.errors import MixsigError

M = TypeVar("M", bound=BaseModel)


class ConfigError(MixsigError):
    """A config that cannot be used; the message names each offending field."""


# the discriminator values of the distortion union, read off the schema
_TAGS = {
    arg.model_fields["kind"].default
    for arg in typing.get_args(typing.get_args(DistortionConfig)[0])
}


def _field_path(loc: tuple) -> str:
    parts: list[str] = []
    prev = None
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif isinstance(prev, int) and p in _TAGS:
            pass  # the discriminator tag pydantic inserts after a tagged-union list index
        elif (isinstance(p, str) and p.endswith("Config") and p[:1].isupper()) or p == "str":
            pass  # the branch names of a `Model | str` union (e.g. hardware: HardwareConfig)
        else:
            parts.append(("." if parts else "") + str(p))
        prev = p
    return "".join(parts) or "<root>"


def format_validation_error(err: ValidationError, source: str = "config") -> str:
    lines = [f"invalid {source}:"]
    for e in err.errors():
        if "str" in e["loc"][1:] and isinstance(e.get("input"), dict):
            continue  # a mapping given to a `Model | str` union: the str branch's complaint
        path = _field_path(tuple(e["loc"]))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not a field of this section)"
        given = e.get("input")
        shown = "" if isinstance(given, dict) or e["type"] == "missing" else f" (got {given!r})"
        lines.append(f"  {path}: {msg}{shown}")
    return "\n".join(lines)


def validate(model: type[M], data: object, source: str = "config") -> M:
    """Validate ``data`` into ``model``, raising `ConfigError` with one line per bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def load_yaml(path: str | os.PathLike, model: type[M] = HardwareConfig) -> M:  # type: ignore[assignment]
    """Load a YAML file (safe loader) into ``model``; errors name the file and the field.

    Relative ``maps`` paths of the hardware's distortions (in ``model`` itself or in its
    ``hardware`` field) are made absolute against the YAML's folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if data is None:
        data = {}
    cfg = validate(model, data, source=str(path))
    # measured-map files named in the YAML are relative to the YAML, not to the working folder
    if isinstance(cfg, HardwareConfig):
        return with_absolute_paths(cfg, path.parent)  # type: ignore[return-value]
    hw = getattr(cfg, "hardware", None)
    if isinstance(hw, HardwareConfig):
        return cfg.model_copy(update={"hardware": with_absolute_paths(hw, path.parent)})
    return cfg


def save_yaml(cfg: BaseModel, path: str | os.PathLike) -> None:
    """Write ``cfg`` as YAML atomically (temporary file in the same folder + os.replace)."""
    atomic_write_text(path, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
