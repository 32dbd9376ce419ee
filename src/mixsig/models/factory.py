"""Your own network from a run config: ``model: {factory: "package.module:function", kwargs}``.

Owns the import and the call of a model factory, and the checks of a model config's keyword
arguments against the function they go to:

* `resolve_factory` imports ``package.module`` with `importlib` and returns its attribute
  ``function`` (a dotted path is followed: ``module:Class.method``). The module must be
  importable: installed, on ``PYTHONPATH``, or under the working directory — which is searched
  last, as ``python -m`` would, while the factory is imported and called (so
  ``examples.my_model:build`` works from the repository's root; installed packages win a
  name clash). Nothing else is added to ``sys.path``.
* `build_from_factory` calls it as ``function(**kwargs)``, adding ``num_classes`` (the data's
  class count) and ``image_shape`` (its (C, H, W)) when, and only when, the signature has a
  parameter of that name (a ``**kwargs`` catch-all does not count); ``kwargs`` may not give
  them. The result must be an `nn.Module`; `mixsig.convert` then treats it exactly as a
  built-in network (every exact `nn.Linear` / `nn.Conv1d` / `nn.Conv2d` made mixed-signal).
* `check_model_config` is what ``mixsig check-config`` does without data: the factory
  imported and the keyword arguments bound to its signature (or to a built-in's builder).

Every failure is a `ModelFactoryError` naming the factory: not ``module:function``, the
module not importable (its `ImportError`), the attribute missing or not callable, keyword
arguments the function does not take, the call raising, a result that is no `nn.Module`.
A factory must be deterministic given the seed (`torch.manual_seed` is set before it is
called): a resume rebuilds the network from the recorded config and loads the checkpoint's
weights into it. The pre-training cache and sweep keys name the factory and its kwargs, not
its code: change the code, change the run's name or cache folder.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from torch import nn

from mixsig.config.run import BUILTIN_KEYWORDS, FACTORY_DATA_KEYWORDS, FACTORY_PATTERN
from mixsig.errors import MixsigError
from mixsig.models.cnn import MODELS


class ModelFactoryError(MixsigError):
    """A model config's network cannot be built: a factory that cannot be imported or called
    or returns no `nn.Module`, or keyword arguments its function does not take."""


class _ModelFields(Protocol):
    """What `check_model_config` reads of a model config (``mixsig.config.run.ModelConfig``)."""

    name: str
    batchnorm: bool
    factory: str | None
    kwargs: Mapping[str, Any]


@contextlib.contextmanager
def _working_directory_searched() -> Iterator[None]:
    """The working directory on ``sys.path`` (last) for the duration, unless it is there."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def resolve_factory(spec: str) -> Callable[..., Any]:
    """The callable ``spec`` = ``"package.module:function"`` names (module doc)."""
    if not isinstance(spec, str) or not re.match(FACTORY_PATTERN, spec):
        raise ModelFactoryError(
            f"model factory {spec!r}: must be 'package.module:function' (a dotted module "
            "path, a colon, a function of that module)"
        )
    module_name, _, attr = spec.partition(":")
    with _working_directory_searched():
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ModelFactoryError(
                f"model factory {spec!r}: cannot import module {module_name!r} "
                f"({type(err).__name__}: {err}); it must be installed, on PYTHONPATH or under "
                f"the working directory ({os.getcwd()})"
            ) from err
        except Exception as err:  # noqa: BLE001 - the user's module failed while importing
            raise ModelFactoryError(
                f"model factory {spec!r}: importing module {module_name!r} raised "
                f"{type(err).__name__}: {err}"
            ) from err
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelFactoryError(
                f"model factory {spec!r}: module {module_name!r} "
                f"({getattr(module, '__file__', None) or 'no file'}) has no attribute {attr!r}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelFactoryError(
            f"model factory {spec!r}: {attr!r} is a {type(obj).__name__}, not a function or class"
        )
    return obj


def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some built-in callables have none
        return None


def _bind(fn: Callable, what: str, args: tuple, kwargs: Mapping[str, Any]) -> None:
    """Refuse ``kwargs`` (with ``args``) that ``fn``'s signature does not take."""
    sig = _signature(fn)
    if sig is None:
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as err:
        raise ModelFactoryError(
            f"{what}: kwargs {dict(kwargs)!r} do not fit its signature {sig} ({err})"
        ) from None


def factory_arguments(
    fn: Callable,
    spec: str,
    kwargs: Mapping[str, Any],
    image_shape: tuple[int, int, int],
    num_classes: int,
) -> dict[str, Any]:
    """``kwargs`` plus the data keywords ``fn`` names (module doc), checked against its
    signature."""
    given = sorted(set(kwargs) & set(FACTORY_DATA_KEYWORDS))
    if given:
        raise ModelFactoryError(
            f"model factory {spec!r}: kwargs may not give {given}: the data does (passed when "
            "the function has parameters of those names)"
        )
    sig = _signature(fn)
    named = set()
    if sig is not None:
        keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        named = {n for n, p in sig.parameters.items() if p.kind in keyword_kinds}
    data = {"image_shape": tuple(int(s) for s in image_shape), "num_classes": int(num_classes)}
    args = {**kwargs, **{k: v for k, v in data.items() if k in named}}
    _bind(fn, f"model factory {spec!r}", (), args)
    return args


def build_from_factory(
    spec: str,
    image_shape: tuple[int, int, int],
    num_classes: int,
    kwargs: Mapping[str, Any] | None = None,
) -> nn.Module:
    """``function(**kwargs)`` of ``spec`` = ``"package.module:function"``, given
    ``num_classes`` and ``image_shape`` when it names them (module doc); must return an
    `nn.Module` (float: `mixsig.convert` makes it mixed-signal)."""
    fn = resolve_factory(spec)
    args = factory_arguments(fn, spec, dict(kwargs or {}), image_shape, num_classes)
    with _working_directory_searched():
        try:
            model = fn(**args)
        except Exception as err:  # noqa: BLE001 - the user's code: named, with its error
            raise ModelFactoryError(
                f"model factory {spec!r} raised {type(err).__name__}: {err}"
            ) from err
    if not isinstance(model, nn.Module):
        raise ModelFactoryError(
            f"model factory {spec!r} returned a {type(model).__module__}."
            f"{type(model).__qualname__}, not a torch.nn.Module"
        )
    return model


def check_model_config(model: _ModelFields) -> None:
    """What building ``model`` needs besides the data: its factory imported and the kwargs
    bound to its signature; or the kwargs bound to the built-in builder (`MODELS`)."""
    if model.factory is not None:
        fn = resolve_factory(model.factory)
        factory_arguments(fn, model.factory, model.kwargs, (1, 1, 1), 2)
    elif model.name in MODELS and model.kwargs:
        taken = dict.fromkeys(BUILTIN_KEYWORDS, None)
        given = sorted(set(model.kwargs) & set(taken))
        if given:
            raise ModelFactoryError(
                f"model {model.name}: kwargs may not give {given}: the data and model.batchnorm do"
            )
        _bind(MODELS[model.name], f"model {model.name}", (), {**taken, **model.kwargs})


__all__ = [
    "ModelFactoryError",
    "build_from_factory",
    "check_model_config",
    "factory_arguments",
    "resolve_factory",
]
