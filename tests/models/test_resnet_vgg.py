"""ResNet-20 and VGG-8: the published parameter count (ResNet-20: 0.27 M, He et al. 2016), the
counts of the stated layers worked out by hand, the option-A shortcut against its definition,
every conv and linear layer converted, training on the chain lowers the loss, and ResNet-20
trains through the runner on a generated CIFAR-10 binary folder (then resumes)."""

import json

import pytest
import torch
from helpers.data import write_cifar
from torch import nn

import mixsig
from mixsig.models import MODELS, build_model, resnet20, vgg8
from mixsig.models.resnet import BasicBlock
from mixsig.nn import MixedConv2d, MixedLinear


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _resnet20_by_hand(classes: int, shortcut: str) -> int:
    """3·16·9 stem; per stage 6 bias-free 3×3 convs (the first of stages 2 and 3 from the
    previous width); BN γ, β after each; the linear 64 → classes; option B adds a 1×1 conv + BN
    at each of the two changes of width."""
    convs = 3 * 16 * 9 + 6 * 16 * 16 * 9
    convs += 16 * 32 * 9 + 5 * 32 * 32 * 9 + 32 * 64 * 9 + 5 * 64 * 64 * 9
    bn = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    extra = 16 * 32 + 32 * 64 + 2 * (32 + 64) if shortcut == "B" else 0
    return convs + bn + 64 * classes + classes + extra


def test_resnet20_has_the_published_parameter_count():
    assert _count(resnet20()) == _resnet20_by_hand(10, "A") == 269_722
    assert round(_count(resnet20()) / 1e6, 2) == 0.27  # He et al. 2016, Table 6
    assert _count(resnet20(shortcut="B")) == _resnet20_by_hand(10, "B") == 272_474
    assert _count(resnet20(num_classes=100)) == _resnet20_by_hand(100, "A")
    convs = [m for m in resnet20().modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in resnet20().modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 20  # its name
    assert [m.out_channels for m in convs] == [16] * 7 + [32] * 6 + [64] * 6


def test_vgg8_has_its_stated_layers_and_count():
    convs = [m for m in vgg8().modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in vgg8().modules() if isinstance(m, nn.Linear)]
    assert [m.out_channels for m in convs] == [64, 64, 128, 128, 256, 256]
    assert [(m.in_features, m.out_features) for m in linears] == [(4096, 512), (512, 10)]
    by_hand = (3 * 64 + 64 * 64 + 64 * 128 + 128 * 128 + 128 * 256 + 256 * 256) * 9
    by_hand += 2 * (64 + 64 + 128 + 128 + 256 + 256) + 4096 * 512 + 512 + 512 * 10 + 10
    assert _count(vgg8()) == by_hand == 3_249_098
    assert [m.out_channels for m in vgg8(width=8).modules() if isinstance(m, nn.Conv2d)] == [
        8, 8, 16, 16, 32, 32,
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["resnet20", "vgg8"])
def test_output_shapes_for_cifar_sized_inputs(name):
    torch.manual_seed(0)
    net = build_model(name, (3, 32, 32), 10).eval()
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert build_model(name, (3, 32, 32), 100)(torch.rand(2, 3, 32, 32)).shape == (2, 100)
    grey = build_model(name, (1, 16, 16), 7, batchnorm=False)
    assert grey(torch.rand(3, 1, 16, 16)).shape == (3, 7)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in grey.modules())


def test_the_option_a_shortcut_subsamples_and_pads_zero_channels():
    torch.manual_seed(0)
    block = BasicBlock(16, 32, 2).eval()
    x = torch.randn(2, 16, 8, 8)
    expected = torch.zeros(2, 32, 4, 4)
    for c in range(16):  # the input's channels sit in the middle: 8 zero channels each side
        for i in range(4):
            for j in range(4):
                expected[:, 8 + c, i, j] = x[:, c, 2 * i, 2 * j]
    assert torch.equal(block.shortcut(x), expected)
    same = BasicBlock(16, 16, 1)
    assert torch.equal(same.shortcut(x), x)  # the identity where the shape stays
    with torch.no_grad():  # a block whose residual branch is zero passes relu(shortcut)
        block.conv2.weight.zero_()
        block.bn2.bias.zero_()
    assert torch.equal(block(x), torch.relu(expected))


def test_the_option_b_shortcut_is_a_strided_1x1_projection():
    block = BasicBlock(16, 32, 2, shortcut="B")
    conv = block.projection[0]
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.out_channels == 32
    assert BasicBlock(16, 16, 1, shortcut="B").projection is None
    with pytest.raises(ValueError, match="shortcut must be one of"):
        resnet20(shortcut="C")


@pytest.mark.parametrize("name, options", [("resnet20", {}), ("resnet20", {"shortcut": "B"}),
                                           ("vgg8", {"width": 8})])  # fmt: skip
def test_convert_makes_every_conv_and_linear_mixed(name, options):
    net = build_model(name, (3, 32, 32), 10, **options)
    n_conv = sum(type(m) is nn.Conv2d for m in net.modules())
    n_lin = sum(type(m) is nn.Linear for m in net.modules())
    model = mixsig.convert(net, strict=True)
    kinds = [type(m) for m in model.modules()]
    assert nn.Conv2d not in kinds and nn.Linear not in kinds
    assert kinds.count(MixedConv2d) == n_conv and kinds.count(MixedLinear) == n_lin
    assert n_conv == {"resnet20": 21 if options else 19, "vgg8": 6}[name]


@pytest.mark.parametrize("name, options", [("resnet20", {}), ("vgg8", {"width": 8})])
def test_training_on_the_chain_lowers_the_loss(name, options, one_thread):
    torch.manual_seed(0)
    y = torch.arange(16) % 4
    x = 0.3 * torch.rand(16, 3, 16, 16)
    for i, k in enumerate(y.tolist()):  # class k: its quadrant lit
        x[i, :, 8 * (k // 2) : 8 * (k // 2) + 8, 8 * (k % 2) : 8 * (k % 2) + 8] += 0.7
    net = build_model(name, (3, 16, 16), 4, **options)
    # calibration runs in eval mode: give batch-norm this batch's statistics first (else the
    # ranges after each BN are set for its initial ones, 0 and 1, and clip in training)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # the running statistics = those of the batch seen
    with torch.no_grad():
        net.train()(x)
    model = mixsig.convert(net)
    mixsig.calibrate(model, [x])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    model.train()
    for _ in range(25):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses  # falls by > 30 %


def test_build_model_knows_the_new_networks():
    assert {"resnet20", "vgg8"} <= set(MODELS)
    with pytest.raises(ValueError, match="at least 4"):
        resnet20(2)
    with pytest.raises(ValueError, match="image_size >= 8"):
        vgg8(4)


def _cifar_config(root, out_name: str, **data):
    from mixsig.train import TrainConfig

    return TrainConfig.model_validate(
        {
            "name": out_name,
            "data": {"name": "cifar10", "root": str(root), **data},
            "model": {"name": "resnet20"},
            "pretrain": {"epochs": 1, "lr": 3e-3},
            "aware": {"epochs": 1, "lr": 1e-3},
            "batch_size": 8,
            "calibration_batches": 1,
            "method": {"bn_batches": 1},
            "eval": {"draws": 2, "sigma_test_lsb": [0.5]},
        }
    )


def test_resnet20_trains_through_the_runner_on_a_cifar_folder(tmp_path, one_thread):
    """The fast variant: 8 of the 20 generated training images (``data.limit_train``)."""
    from mixsig.train import load_trained, run_training

    write_cifar(tmp_path / "cifar")
    cfg = _cifar_config(tmp_path / "cifar", "r20", limit_train=8)
    res = run_training(cfg, tmp_path / "run", progress=False, echo=lambda s: None)
    assert res["results"][0]["draws"] == 2 and 0.0 <= res["results"][0]["mean"] <= 1.0
    assert (tmp_path / "run" / "checkpoint").is_dir()
    model, loaded, data = load_trained(tmp_path / "run")
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(MixedConv2d) == 19 and kinds.count(MixedLinear) == 1
    assert loaded.model.name == "resnet20" and data.x_train.shape == (8, 3, 32, 32)
    again = run_training(cfg, tmp_path / "run", resume=True, progress=False, echo=lambda s: None)
    assert again["results"] == res["results"]  # resumed at 'done': evaluated again, same draws
    assert json.loads((tmp_path / "run" / "results.json").read_text())["results"] == res["results"]


@pytest.mark.slow
def test_resnet20_trains_through_the_runner_on_the_whole_cifar_folder(tmp_path, one_thread):
    from mixsig.train import run_training

    write_cifar(tmp_path / "cifar")
    cfg = _cifar_config(tmp_path / "cifar", "r20-all")
    res = run_training(cfg, tmp_path / "run", progress=False, echo=lambda s: None)
    assert len(res["results"]) == 1 and res["results"][0]["draws"] == 2
