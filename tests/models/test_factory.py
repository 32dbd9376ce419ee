"""Your own network from a config (`mixsig.models.factory`, ``model.factory``/``kwargs``): the
factory is imported from the working directory and called with its kwargs and the data
keywords it names; every way it can fail is a `ModelFactoryError` naming it; the config
refuses a factory beside a built-in's name; a built-in's config dumps as before."""

import sys
import textwrap

import pytest
import torch
from torch import nn

import mixsig
from mixsig.config import HardwareConfig
from mixsig.errors import MixsigError
from mixsig.models import (
    ModelFactoryError,
    build_from_factory,
    check_model_config,
    model_from_config,
    resolve_factory,
)
from mixsig.nn import MixedConv2d, MixedLinear
from mixsig.train import TrainConfig
from mixsig.train.config import ModelConfig

MODULE = """
from torch import nn

calls = []

def with_data(image_shape, num_classes, width=4):
    calls.append(("with_data", image_shape, num_classes, width))
    return nn.Sequential(nn.Conv2d(image_shape[0], width, 3), nn.ReLU(), nn.Flatten(),
                         nn.LazyLinear(num_classes))

def plain(width=4):
    calls.append(("plain", width))
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width))

def catch_all(**options):
    calls.append(("catch_all", options))
    return nn.Linear(2, 2)

class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.fc = nn.Linear(64, num_classes)

    class Inner:
        @staticmethod
        def build(num_classes):
            return nn.Linear(4, num_classes)

def raises(width=4):
    raise RuntimeError(f"width {width} is too wide")

def not_a_module():
    return [1, 2]

NOT_CALLABLE = 3
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch, request):
    """A module of factories in a folder that is the working directory (and not on sys.path);
    its name is unique to the test and forgotten afterwards."""
    name = "userfactories_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def _model_cfg(**fields) -> ModelConfig:
    return ModelConfig.model_validate(fields)


def test_a_factory_gets_its_kwargs_and_the_data_keywords_it_names(user_module):
    path_before = list(sys.path)
    net = build_from_factory(f"{user_module}:with_data", (3, 8, 8), 5, {"width": 6})
    assert sys.path == path_before  # the working directory was searched, not added for good
    mod = sys.modules[user_module]
    assert mod.calls[-1] == ("with_data", (3, 8, 8), 5, 6)
    assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 5)
    build_from_factory(f"{user_module}:plain", (3, 8, 8), 5, {"width": 7})
    assert mod.calls[-1] == ("plain", 7)  # it names neither: gets neither
    build_from_factory(f"{user_module}:catch_all", (3, 8, 8), 5, {"a": 1})
    assert mod.calls[-1] == ("catch_all", {"a": 1})  # **options does not count as naming them
    assert build_from_factory(f"{user_module}:Net", (1, 8, 8), 3).fc.out_features == 3
    inner = build_from_factory(f"{user_module}:Net.Inner.build", (1, 8, 8), 3)
    assert inner.out_features == 3  # a dotted attribute path is followed


def test_a_factory_model_is_built_from_its_config_and_converts(user_module):
    cfg = TrainConfig.model_validate(
        {"model": {"factory": f"{user_module}:with_data", "kwargs": {"width": 3}}}
    )
    assert cfg.model.name == "factory"
    net = model_from_config(cfg.model, (1, 8, 8), 10, HardwareConfig())
    net(torch.zeros(1, 1, 8, 8))  # materialise the lazy layer
    model = mixsig.convert(net, strict=True)
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(MixedConv2d) == 1 and kinds.count(MixedLinear) == 1


@pytest.mark.parametrize(
    "spec, words",
    [
        ("no_colon", "must be 'package.module:function'"),
        ("a.b:c:d", "must be 'package.module:function'"),
        ("definitely_not_a_module_xyz:build", "cannot import module 'definitely_not_a_module_xyz'"),
        ("{m}:missing", "has no attribute 'missing'"),
        ("{m}:NOT_CALLABLE", "'NOT_CALLABLE' is a int, not a function"),
        ("{m}:raises", "raised RuntimeError: width 4 is too wide"),
        ("{m}:not_a_module", "returned a builtins.list, not a torch.nn.Module"),
    ],
)
def test_every_failure_names_the_factory(user_module, spec, words):
    spec = spec.format(m=user_module)
    with pytest.raises(ModelFactoryError, match="model factory") as err:
        build_from_factory(spec, (1, 8, 8), 10)
    assert words in str(err.value) and spec in str(err.value)
    assert isinstance(err.value, MixsigError)


def test_a_module_that_fails_to_import_is_named_with_its_error(tmp_path, monkeypatch):
    (tmp_path / "broken_factory_mod.py").write_text("import not_installed_pkg_xyz\n")
    (tmp_path / "raising_factory_mod.py").write_text("raise RuntimeError('half-written')\n")
    monkeypatch.chdir(tmp_path)
    try:
        with pytest.raises(
            ModelFactoryError,
            match=r"cannot import module 'broken_factory_mod'"
            r" \(ModuleNotFoundError: No module named 'not_installed_pkg_xyz'",
        ):
            resolve_factory("broken_factory_mod:build")
        with pytest.raises(
            ModelFactoryError,
            match="importing module 'raising_factory_mod' raised RuntimeError: half-written",
        ):
            resolve_factory("raising_factory_mod:build")
    finally:
        sys.modules.pop("broken_factory_mod", None)
        sys.modules.pop("raising_factory_mod", None)


def test_the_module_is_found_only_under_the_working_directory(user_module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(ModelFactoryError, match="under the working directory"):
        resolve_factory(f"{user_module}:plain")
    monkeypatch.chdir(tmp_path)
    assert callable(resolve_factory(f"{user_module}:plain"))


def test_kwargs_that_do_not_fit_the_signature_are_refused_before_the_call(user_module):
    with pytest.raises(ModelFactoryError, match=r"kwargs \{'depth': 3\} do not fit its signature"):
        build_from_factory(f"{user_module}:plain", (1, 8, 8), 10, {"depth": 3})
    assert sys.modules[user_module].calls == []  # never called
    with pytest.raises(ModelFactoryError, match=r"may not give \['num_classes'\]"):
        build_from_factory(f"{user_module}:with_data", (1, 8, 8), 10, {"num_classes": 3})
    cfg = _model_cfg(factory=f"{user_module}:plain", kwargs={"depth": 3})
    with pytest.raises(ModelFactoryError, match="do not fit"):
        check_model_config(cfg)  # what check-config does: no data, no call
    assert sys.modules[user_module].calls == []
    check_model_config(_model_cfg(factory=f"{user_module}:with_data", kwargs={"width": 2}))


def test_kwargs_reach_a_built_in_network_and_are_checked_against_it():
    net = model_from_config(
        _model_cfg(name="resnet20", kwargs={"shortcut": "B"}), (3, 32, 32), 10, HardwareConfig()
    )
    assert net.stages[1][0].projection is not None
    net = model_from_config(
        _model_cfg(name="cifar_cnn", kwargs={"width": 8}), (3, 32, 32), 10, HardwareConfig()
    )
    assert [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)] == [8, 8, 16, 16]
    with pytest.raises(ModelFactoryError, match="model resnet20: kwargs .* do not fit"):
        model_from_config(_model_cfg(name="resnet20", kwargs={"depth": 32}), (3, 32, 32), 10,
                          HardwareConfig())  # fmt: skip


@pytest.mark.parametrize(
    "model, words",
    [
        ({"name": "small_cnn", "factory": "m:f"}, "give either name"),
        ({"name": "factory"}, "name 'factory' needs factory"),
        ({"factory": "m"}, "must be 'package.module:function'"),
        ({"factory": "m:f", "batchnorm": False}, "batchnorm and optical apply to the built-in"),
        ({"factory": "m:f", "optical": {"out_channels": 2}}, "batchnorm and optical apply"),
        ({"factory": "m:f", "kwargs": {"num_classes": 3}}, "the data sets image_shape"),
        ({"name": "vgg8", "kwargs": {"in_channels": 1}}, "cannot be given for vgg8"),
        ({"name": "optical_cnn", "kwargs": {"pool": 2}}, "takes its options from model.optical"),
        ({"factory": "m:f", "kwargs": {"not an identifier": 1}}, "Python identifiers"),
        ({"factory": "m:f", "kwargs": {"when": object()}}, "valid JSON value"),
    ],
)
def test_the_config_refuses_what_cannot_be_meant(model, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig.model_validate({"model": model})


def test_a_factory_config_round_trips_and_a_built_in_dumps_as_before():
    cfg = TrainConfig.model_validate({"model": {"factory": "pkg.mod:build", "kwargs": {"w": [1]}}})
    dumped = cfg.model_dump(mode="json")
    assert dumped["model"]["factory"] == "pkg.mod:build" and dumped["model"]["name"] == "factory"
    assert TrainConfig.model_validate(dumped) == cfg  # as a checkpoint's sidecar is read back
    # built-ins: no new keys in the dump, so run keys and stored checkpoints stay valid
    assert set(TrainConfig().model_dump(mode="json")["model"]) == {"name", "batchnorm", "optical"}
    with_kwargs = TrainConfig.model_validate({"model": {"name": "vgg8", "kwargs": {"width": 8}}})
    assert "factory" not in with_kwargs.model_dump()["model"]
