"""The built-in networks: the architectures their docstrings state, every conv and linear layer
converted by `mixsig.convert`, and a model config turned into the network it names."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

import mixsig
from mixsig.models import (
    MODELS,
    build_model,
    cifar_cnn,
    lenet5,
    model_from_config,
    optical_cnn,
    small_cnn,
)
from mixsig.nn import MixedConv2d, MixedLinear, OpticalConv2d


def _shapes(model: nn.Module) -> list[tuple]:
    return [tuple(p.shape) for p in model.parameters()]


def test_the_small_cnn_is_the_benchmarks_network():
    # conv 1→8 5×5, conv 8→16 5×5, linear 256→10 on 28×28 inputs
    assert _shapes(small_cnn()) == [(8, 1, 5, 5), (8,), (16, 8, 5, 5), (16,), (10, 256), (10,)]
    assert small_cnn()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_lenet5_and_the_cifar_cnn_have_their_stated_layers():
    linears = [m.out_features for m in lenet5().modules() if isinstance(m, nn.Linear)]
    assert linears == [120, 84, 10]
    assert lenet5()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    convs = [m.out_channels for m in cifar_cnn().modules() if isinstance(m, nn.Conv2d)]
    assert convs == [32, 32, 64, 64]
    assert cifar_cnn()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_conv_and_linear_layer_is_converted(name):
    shape = (3, 32, 32) if name in ("cifar_cnn", "resnet20", "vgg8") else (1, 28, 28)
    model = mixsig.convert(build_model(name, shape, 10))
    kinds = {type(m) for m in model.modules()}
    assert nn.Conv2d not in kinds and nn.Linear not in kinds
    assert {MixedConv2d, MixedLinear} <= kinds


def test_small_images_get_padded_3x3_kernels_and_bad_names_are_refused():
    net = build_model("small_cnn", (1, 8, 8), 10)
    assert net[0].kernel_size == (3, 3) and net[0].padding == (1, 1)
    assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="square images only"):
        build_model("small_cnn", (1, 28, 20), 10)
    with pytest.raises(ValueError, match="too small"):
        small_cnn(8)


def test_the_optical_cnn_has_an_optical_front_and_a_digital_rest():
    model = optical_cnn(28, out_channels=4, kernel_size=5, parameterisation="doe")
    assert isinstance(model[0], OpticalConv2d)
    assert not any(isinstance(m, (MixedConv2d, MixedLinear)) for m in model.modules())
    mixsig.calibrate(model, [torch.rand(8, 1, 28, 28)])
    assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_a_model_config_builds_the_network_it_names():
    optical = SimpleNamespace(
        parameterisation="kernel", out_channels=2, kernel_size=3, doe_levels=16
    )
    cfg = SimpleNamespace(
        name="small_cnn", batchnorm=True, optical=optical, factory=None, kwargs={}
    )
    hw = mixsig.HardwareConfig()
    net = model_from_config(cfg, (1, 28, 28), 10, hw)
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    cfg.name = "optical_cnn"
    net = model_from_config(cfg, (1, 28, 28), 10, hw)
    assert isinstance(net[0], OpticalConv2d) and net[0].parameterisation == "kernel"
    with pytest.raises(ValueError, match="single-channel"):
        model_from_config(cfg, (3, 32, 32), 10, hw)


@pytest.mark.parametrize(
    "name, shape, count",
    [
        ("small_cnn", (1, 28, 28), 6_042),
        ("lenet5", (1, 28, 28), 61_750),
        ("cifar_cnn", (3, 32, 32), 591_658),
        ("resnet20", (3, 32, 32), 269_722),
        ("vgg8", (3, 32, 32), 3_249_098),
    ],
)
def test_the_parameter_counts_docs_api_states(name, shape, count):
    from helpers import REPO

    assert sum(p.numel() for p in build_model(name, shape, 10, batchnorm=True).parameters()) == (
        count
    )
    assert f"{count:,}" in (REPO / "docs" / "api.md").read_text()


def test_the_run_config_names_every_built_in_network():
    import typing

    from mixsig.config.run import ModelConfig

    names = set(typing.get_args(ModelConfig.model_fields["name"].annotation))
    assert names == set(MODELS) | {"optical_cnn", "factory"}
