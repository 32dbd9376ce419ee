"""Reading and writing configs as YAML, with errors that name the file and the field.

Owns the file boundary of `mixsig.config`: `read_yaml`, the one YAML reader of mixsig (the safe
loader only, never arbitrary objects; a key given twice in a mapping refused, where PyYAML
would keep the last silently; a file that is missing, not UTF-8 or not YAML refused naming the
file), `read_yaml_mapping` (a config document must be a mapping: an empty file or a bare
``false`` is refused, not read as "all defaults"), `load_yaml` (a file into a model) and
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


class _DuplicateKey(yaml.YAMLError):
    """A mapping key given twice (lines are 1-based)."""

    def __init__(self, key: object, first: int, again: int) -> None:
        super().__init__(
            f"duplicate key {key!r} on line {again} (first given on line {first}): each key "
            "may appear once in a mapping"
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping. Keys merged in with
    ``<<`` may still be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                line = first.get(key)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if line is not None:
                raise _DuplicateKey(key, line, key_node.start_mark.line + 1)
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def read_yaml(path: str | os.PathLike) -> object:
    """The YAML document in ``path`` as plain Python data (`_UniqueKeyLoader`: safe, keys
    unique). Raises `ConfigError` naming the file when it is missing or unreadable, not UTF-8,
    not valid YAML (with the line) or has a duplicate key (with both lines)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a config file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}): "
            "save it as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: plain data only
    except _DuplicateKey as err:
        raise ConfigError(f"{path}: {err}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as err:  # ValueError: a bad date
        raise ConfigError(f"{path} is not valid YAML: {err}") from None


def read_yaml_mapping(path: str | os.PathLike, what: str = "config") -> dict:
    """`read_yaml`, refusing (`ConfigError` naming the file) a document that is not a mapping:
    an empty file (or only comments) and a bare scalar or list are not configs. ``what`` names
    the kind in the message ("hardware config", "run config", ...). ``{}`` is the explicit
    way to ask for every default."""
    data = read_yaml(path)
    if data is None:
        raise ConfigError(
            f"{path} is empty: a {what} is a YAML mapping of its fields (write {{}} to take "
            "every default)"
        )
    if not isinstance(data, dict):
        shown = repr(data) if len(repr(data)) <= 40 else repr(data)[:37] + "..."
        raise ConfigError(
            f"{path}: a {what} must be a YAML mapping (key: value lines), got "
            f"{type(data).__name__} {shown}"
        )
    return data


#: what a model is called in messages about its files
_WHAT = {"HardwareConfig": "hardware config", "TrainConfig": "run config"}


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
    """Load a YAML file (`read_yaml_mapping`) into ``model``; errors name the file and the
    field.

    Relative ``maps`` paths of the hardware's distortions (in ``model`` itself or in its
    ``hardware`` field) are made absolute against the YAML's folder."""
    path = Path(path)
    data = read_yaml_mapping(path, _WHAT.get(model.__name__, model.__name__))
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
