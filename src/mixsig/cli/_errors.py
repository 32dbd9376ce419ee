"""How a command ends on bad input: one line naming the field or file, exit status 2.

`explained` wraps every command. The errors mixsig raises on purpose (`mixsig.errors.
MixsigError`: configs, data, checkpoints, calibration frames, map and DOE files), a YAML syntax
error, a file that is not UTF-8 text and an operating-system error on a named file are
printed as ``error: …`` and end the command with status 2. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TypeVar

import typer

from mixsig.errors import MixsigError

F = TypeVar("F", bound=Callable)


def fail(message: str) -> None:
    """Print ``error: message`` to stderr and end the command with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def explained(command: F) -> F:
    """Run ``command``; bad input ends it with one clear line and status 2 (module doc)."""
    import yaml

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MixsigError as err:
            fail(str(err))
        except yaml.YAMLError as err:
            fail(f"not valid YAML: {err}")
        except UnicodeDecodeError as err:
            fail(f"a file that should be UTF-8 text is not ({err})")
        except OSError as err:
            if err.filename is None:
                raise
            fail(f"{err.filename}: {err.strerror or err}")

    return wrapper  # type: ignore[return-value]


def int_list(text: str, option: str) -> list[int]:
    """A comma-separated list of integers given to ``option``; refused by name otherwise."""
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        values = []
    if not values:
        raise typer.BadParameter(
            f"must be comma-separated integers, got {text!r}", param_hint=option
        )
    return values


def float_list(text: str, option: str) -> list[float]:
    """A comma-separated list of finite numbers given to ``option``; refused by name otherwise."""
    try:
        values = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise typer.BadParameter(
            f"must be comma-separated finite numbers, got {text!r}", param_hint=option
        )
    return values


def finite(value: float, option: str) -> float:
    """``value`` if it is a finite number; refused by name otherwise."""
    if not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number, got {value}", param_hint=option)
    return value
