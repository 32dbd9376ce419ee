"""The functional optics core, the tile geometry, the shared pair layout, the model regulariser.

`OpticalConv2d` is a module over `mixsig.optics.functional` (as ``nn.Conv2d`` over
``F.conv2d``): the functions alone must give bitwise what the layer gives. The pseudo-negative
pair layout (`mixsig.nn.pairs`) is checked against its explicit definition for both of its
uses: blocks per convolution group (mixed layers) and one group per channel (optical layer:
interleaved W⁺_0, W⁻_0, W⁺_1, …, the order trained DOEs are made with).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers.optics import IDEAL
from helpers.optics import pad_same as _pad_same
from helpers.optics import sampling as _sampling

from mixsig.models.optical import optical_cnn
from mixsig.nn import MixedConv2d, OpticalConv2d, optical_regularizer
from mixsig.nn.pairs import stack_pairs, subtract_pairs
from mixsig.optics import functional as OF
from mixsig.optics import quantize_phase, realised_psf, tiles
from mixsig.optics.synthesis import TileLayout

F64 = torch.float64

pytestmark = pytest.mark.usefixtures("one_thread")


# -- the pair layout ------------------------------------------------------------------------


def _explicit_stack(pos: torch.Tensor, neg: torch.Tensor, groups: int) -> torch.Tensor:
    c = pos.shape[0] // groups
    blocks = []
    for g in range(groups):
        blocks += [pos[g * c : (g + 1) * c], neg[g * c : (g + 1) * c]]
    return torch.cat(blocks)


@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_stack_pairs_is_w_plus_then_w_minus_inside_each_group(groups):
    pos, neg = torch.rand(6, 2, 3), -torch.rand(6, 2, 3)
    stacked = stack_pairs(pos, neg, groups)
    assert torch.equal(stacked, _explicit_stack(pos, neg, groups))
    y = torch.rand(4, 12, 5)
    c = 6 // groups
    expected = torch.cat(
        [y[:, 2 * g * c : (2 * g + 1) * c] - y[:, (2 * g + 1) * c : (2 * g + 2) * c]
         for g in range(groups)],
        dim=1,
    )  # fmt: skip
    assert torch.equal(subtract_pairs(y, groups), expected)
    assert torch.equal(subtract_pairs(stacked[None], groups, dim=1)[0], pos - neg)


def test_one_group_per_channel_is_the_interleaved_optical_order():
    pos, neg = torch.rand(4, 3, 3), torch.rand(4, 3, 3)
    assert torch.equal(
        stack_pairs(pos, neg, 4), torch.stack([pos, neg], dim=1).reshape(8, 3, 3)
    )  # [W⁺_0, W⁻_0, W⁺_1, …]
    y = torch.rand(2, 8, 5, 5)
    assert torch.equal(subtract_pairs(y, 4), y[:, 0::2] - y[:, 1::2])


def test_pairs_refuse_channels_that_do_not_split():
    with pytest.raises(ValueError, match="equal blocks"):
        subtract_pairs(torch.rand(2, 6, 3), groups=2)
    with pytest.raises(ValueError, match="groups"):
        stack_pairs(torch.rand(3, 2), torch.rand(3, 2), groups=0)


def test_optical_layer_reads_its_tiles_as_interleaved_pairs():
    torch.manual_seed(0)
    layer = OpticalConv2d(3, 3, image_size=5, hardware=IDEAL, dtype=F64, bias=False)
    w = layer.weight[:, 0].detach()
    kernels = layer.optical_kernels().detach() * (w.relu() + (-w).relu()).sum()
    torch.testing.assert_close(kernels[0::2], w.relu(), atol=1e-15, rtol=0)  # tile 2i: W⁺_i
    torch.testing.assert_close(kernels[1::2], (-w).relu(), atol=1e-15, rtol=0)  # 2i + 1: W⁻_i
    a = torch.rand(2, 6, 5, 5, dtype=F64)
    assert torch.equal(layer.readout(a), layer.chain(a)[:, 0::2] - layer.chain(a)[:, 1::2])


def test_grouped_mixed_conv_realises_blocks_per_group():
    hw = {"dac": None, "weights": {"bits": None, "realisation": "differential"}}
    layer = MixedConv2d(3, 6, 3, groups=3, hardware=hw)
    w = layer.weight.detach()
    assert torch.equal(layer.analog_weight().detach(), _explicit_stack(w.relu(), (-w).relu(), 3))


# -- the functional core = the layer ----------------------------------------------------------


def _layer(**kw) -> OpticalConv2d:
    torch.manual_seed(3)
    args = dict(image_size=(6, 5), hardware=IDEAL, dtype=F64)
    if kw.get("parameterisation") == "doe":
        args.update(sampling=_sampling(24, 2), doe_init="random_phase")
    return OpticalConv2d(2, 3, **{**args, **kw})


CASES = {
    "kernel": dict(),
    "kernel_crosstalk": dict(model_crosstalk=True),
    "kernel_coherent": dict(coherent=True, model_crosstalk=True),
    "doe": dict(parameterisation="doe"),
    "doe_crosstalk_etched": dict(parameterisation="doe", model_crosstalk=True, etch_scale=0.9),
    "doe_coherent": dict(parameterisation="doe", coherent=True, doe_levels=None),
    "doe_float32": dict(parameterisation="doe", dtype=torch.float32, avoid_zero_order=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_optical_conv2d_of_the_layers_psf_is_its_optical_forward(case):
    layer = _layer(**CASES[case])
    x = torch.rand(3, 1, 6, 5, dtype=F64, generator=torch.Generator().manual_seed(1))
    expected = layer.optical_forward(x)
    got = OF.optical_conv2d(
        x,
        layer.psf(),
        layer.layout,
        crosstalk=layer.model_crosstalk,
        coherent=layer.coherent,
        dtype=layer._dtype,
    )
    assert torch.equal(got, expected)
    if layer.mode == "doe":  # the PSF of the phase mask, through the functions
        phi = OF.fabricated_phase(layer.phase_rad, layer.doe_levels, layer.etch_scale)
        plane = realised_psf(phi, layer.sampling, coherent=layer.coherent)
        assert torch.equal(plane, layer.camera_plane_psf())
        psf = tiles.tile_psf(plane, layer.layout, crosstalk=layer.model_crosstalk)
        assert torch.equal(psf, layer.psf())
    energy, total = OF.window_energy(
        layer.camera_plane_psf(), layer.layout, coherent=layer.coherent
    )
    assert torch.equal(OF.spread_regularizer(energy, total), layer.optical_regularizer())


def test_optical_conv2d_is_a_cross_correlation_with_the_windows():
    layout = TileLayout.build(3, 4, (7, 6))
    kernels = torch.rand(3, 4, 4, dtype=F64)
    x = torch.rand(2, 1, 7, 6, dtype=F64)
    expected = F.conv2d(_pad_same(x, 4), kernels[:, None])
    torch.testing.assert_close(OF.optical_conv2d(x, kernels, layout), expected, atol=1e-12, rtol=0)
    j = 64
    plane = layout.place(kernels, (j, j))  # the box of the same plane: the same channels
    box = tiles.tile_psf(plane, layout, crosstalk=True)
    got = OF.optical_conv2d(x, box, layout, crosstalk=True)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_fabricated_phase_is_the_quantized_phase_at_unit_etch_scale():
    phi = 7 * torch.rand(8, 8, dtype=F64) - 1
    assert torch.equal(OF.fabricated_phase(phi, 16), quantize_phase(phi, 16))
    assert OF.fabricated_phase(phi, None) is phi
    scaled = OF.fabricated_phase(phi, None, 0.5)
    assert float(scaled.min()) >= 0 and float(scaled.max()) < torch.pi + 1e-12


def test_tile_geometry_functions_match_the_layer():
    layer = _layer(model_crosstalk=True, avoid_zero_order=True)
    rows, cols = tiles.sensor_index(layer.layout, (60, 64), (30, 31))
    lrows, lcols = layer.sensor_index((60, 64), (30, 31))
    assert torch.equal(rows, lrows) and torch.equal(cols, lcols)
    (_, y1), (_, x1) = layer.layout.visible_box()
    assert tiles.output_crops(layer.layout, crosstalk=True) == tuple(
        (y1 - dy, x1 - dx) for dy, dx in layer.layout.offsets_px
    )
    assert tiles.output_crops(layer.layout, crosstalk=False) == ((1, 1),)
    plane = torch.arange(25.0).reshape(5, 5)
    box = tiles.take_box(plane, ((-3, 0), (1, 3)))  # one row above the plane, one column right
    assert box.shape == (4, 3) and torch.equal(box[0], torch.zeros(3))
    assert torch.equal(box[1:, :2], plane[:3, 3:]) and torch.equal(box[:, 2], torch.zeros(4))


# -- the regulariser without indexing -------------------------------------------------------


def test_optical_regularizer_of_a_model_is_its_layers_sum():
    torch.manual_seed(4)
    model = optical_cnn(
        8, out_channels=2, kernel_size=3, parameterisation="doe", hardware=IDEAL,
        sampling=_sampling(24, 2), pool=2,
    )  # fmt: skip
    reg = optical_regularizer(model)
    assert torch.equal(reg, model[0].optical_regularizer())
    reg.backward()
    assert model[0].phase_rad.grad is not None
    assert torch.equal(optical_regularizer(model[0]), model[0].optical_regularizer())
    two = torch.nn.Sequential(model[0], _layer(parameterisation="doe", dtype=torch.float32))
    torch.testing.assert_close(
        optical_regularizer(two), model[0].optical_regularizer() + two[1].optical_regularizer()
    )
    none = optical_regularizer(torch.nn.Linear(3, 2, dtype=F64))
    assert none.shape == () and float(none) == 0.0 and none.dtype == F64
