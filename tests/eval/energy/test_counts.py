"""The operation count of one inference (`count_operations`) against numbers computed by hand:
MACs of plain, grouped and mixed-signal layers, ADC conversions through tiles and differential
pairs, DAC conversions as im2col entries, the optical layer's camera pixels; the model's mode
restored."""

import pytest
import torch
from torch import nn

import mixsig
from mixsig import MixedConv1d, MixedConv2d, MixedLinear, MixsigError
from mixsig.eval.energy import LayerOps, count_operations, total_macs
from mixsig.models import optical_cnn, small_cnn
from mixsig.nn import OpticalConv2d

# fixed ranges: the layers run without calibration; 4-bit DAC, 5-bit ADC, no noise
HW = {
    "dac": {"bits": 4, "range": "fixed", "lo": 0.0, "hi": 1.0},
    "weights": {"bits": None},
    "noise": {"sigma_lsb": 0.0},
    "adc": {"bits": 5, "signed": True, "range": "fixed", "lo": -8.0, "hi": 8.0},
}
# differential pairs: each half non-negative, through an unsigned 5-bit ADC
DIFF = {
    **HW,
    "weights": {"bits": None, "realisation": "differential"},
    "adc": {"bits": 5, "range": "fixed", "lo": 0.0, "hi": 8.0},
}
NO_DAC = {**HW, "dac": None}


def hw(base: dict, rows: int | None = None) -> dict:
    return {**base, "array": {"rows": rows}}


def only(ops: list[LayerOps]) -> LayerOps:
    assert len(ops) == 1, ops
    return ops[0]


# -- digital layers ---------------------------------------------------------------------------


def test_a_plain_conv_counts_its_macs_by_hand():
    """3 → 4 channels, 3×3, 8×8 with padding 1: 4 outputs × 8·8 positions × 3·9 inputs."""
    ops = only(count_operations(nn.Conv2d(3, 4, 3, padding=1), torch.rand(1, 3, 8, 8)))
    assert ops == LayerOps("Conv2d", "digital", 4 * 8 * 8 * 27)


@pytest.mark.parametrize(
    "layer, x, macs",
    [
        (nn.Linear(10, 6), torch.rand(1, 10), 6 * 10),
        (nn.Linear(10, 6), torch.rand(1, 7, 10), 7 * 6 * 10),  # every token an MVM
        (nn.Conv1d(2, 3, 3), torch.rand(1, 2, 10), 3 * 8 * 2 * 3),
        # 4 → 8 channels in 2 groups: each output sums 2 channels × 9 taps; 6×6 → 4×4
        (nn.Conv2d(4, 8, 3, groups=2), torch.rand(1, 4, 6, 6), 8 * 16 * 2 * 9),
        # depthwise, stride 2: 4 channels, 5×5 → 3×3 with padding 1
        (nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4), torch.rand(1, 4, 5, 5), 4 * 9 * 9),
        (nn.Conv3d(2, 3, 2), torch.rand(1, 2, 3, 3, 3), 3 * 8 * 2 * 8),
    ],
)
def test_plain_layers_count_macs_with_groups(layer, x, macs):
    ops = only(count_operations(nn.Sequential(layer), x))
    assert (ops.kind, ops.macs, ops.adc_conversions, ops.dac_conversions) == ("digital", macs, 0, 0)


def test_bn_relu_pooling_and_bias_are_not_counted_and_layers_come_in_order():
    """small_cnn, 8×8, kernel 3, padding 1, channels (4, 8): conv 1→4 on 8×8, pool, conv 4→8
    on 4×4, pool, linear 8·2·2 → 10."""
    net = small_cnn(8, kernel_size=3, padding=1, batchnorm=True, channels=(4, 8))
    ops = count_operations(net, torch.rand(5, 1, 8, 8))
    assert [(o.name, o.macs) for o in ops] == [
        ("0", 4 * 64 * 9),
        ("4", 8 * 16 * 36),
        ("9", 10 * 32),
    ]
    assert total_macs(ops) == 2304 + 4608 + 320 == total_macs(ops, "digital")
    assert total_macs(ops, "analog") == 0


# -- mixed-signal layers ----------------------------------------------------------------------


def test_a_mixed_conv_counts_macs_adc_and_im2col_dac_values():
    layer = MixedConv2d(3, 4, 3, padding=1, hardware=HW)
    ops = only(count_operations(layer, torch.rand(2, 3, 8, 8)))
    assert ops == LayerOps(
        name="MixedConv2d",
        kind="analog",
        macs=4 * 64 * 27,
        adc_conversions=4 * 64,  # one reading per output value
        adc_bits=5,
        dac_conversions=64 * 27,  # output positions × C_in × k²: the im2col entries
        dac_bits=4,
        array_macs=4 * 64 * 27,
    )


@pytest.mark.parametrize("rows, tiles", [(None, 1), (27, 1), (26, 2), (18, 2), (9, 3)])
def test_every_tile_has_its_own_adc(rows, tiles):
    """3 input channels × 9 taps: 18 rows hold 2 channels (2 tiles), 9 rows one (3 tiles)."""
    layer = MixedConv2d(3, 4, 3, padding=1, hardware=hw(HW, rows))
    assert layer.tiling.count == tiles
    ops = only(count_operations(layer, torch.rand(1, 3, 8, 8)))
    assert ops.adc_conversions == tiles * 4 * 64
    assert ops.macs == ops.array_macs == 4 * 64 * 27  # tiling splits the MACs, adds none
    assert ops.dac_conversions == 64 * 27  # one DAC value drives its tile's row


def test_differential_pairs_are_both_digitised():
    """W = W⁺ − W⁻: both halves through the ADC, subtracted digitally: 2 × outputs."""
    ops = only(
        count_operations(nn.Sequential(MixedLinear(10, 6, hardware=DIFF)), torch.rand(1, 10))
    )
    assert (ops.macs, ops.array_macs, ops.adc_conversions) == (60, 120, 12)
    assert (ops.dac_conversions, ops.dac_bits, ops.adc_bits) == (10, 4, 5)


def test_differential_and_tiled_multiply():
    """10 inputs on 4-row arrays: 3 tiles, each with both halves of 6 outputs."""
    layer = MixedLinear(10, 6, hardware=hw(DIFF, 4))
    ops = only(count_operations(nn.Sequential(layer), torch.rand(1, 10)))
    assert ops.adc_conversions == 3 * 2 * 6 and ops.macs == 60


def test_a_layer_without_dac_writes_nothing():
    ops = only(count_operations(MixedConv2d(3, 4, 3, hardware=NO_DAC), torch.rand(1, 3, 8, 8)))
    assert (ops.dac_conversions, ops.dac_bits) == (0, None)
    assert ops.adc_conversions == 4 * 36


def test_grouped_and_1d_mixed_layers():
    grouped = MixedConv2d(4, 8, 3, groups=2, hardware=HW)
    ops = only(count_operations(grouped, torch.rand(1, 4, 6, 6)))
    # each output sums 2 channels × 9 taps; every group's 2·9 inputs are written per position
    assert (ops.macs, ops.adc_conversions, ops.dac_conversions) == (8 * 16 * 18, 8 * 16, 16 * 36)
    ops = only(count_operations(MixedConv1d(2, 3, 3, hardware=HW), torch.rand(1, 2, 10)))
    assert (ops.macs, ops.adc_conversions, ops.dac_conversions) == (3 * 8 * 6, 3 * 8, 8 * 6)


def test_a_converted_network_counts_every_layer():
    net = mixsig.convert(small_cnn(8, kernel_size=3, padding=1, channels=(4, 8)), HW)
    ops = count_operations(net, torch.rand(1, 1, 8, 8))
    assert [(o.kind, o.macs, o.adc_conversions, o.dac_conversions) for o in ops] == [
        ("analog", 2304, 4 * 64, 64 * 9),
        ("analog", 4608, 8 * 16, 16 * 36),
        ("analog", 320, 10, 32),
    ]


# -- the optical layer ------------------------------------------------------------------------


@pytest.mark.parametrize("signed, channels", [(True, 6), (False, 3)])
def test_the_optical_layer_counts_the_camera_pixels_it_digitises(signed, channels):
    layer = OpticalConv2d(3, 3, image_size=8, hardware=HW, signed=signed)
    ops = only(count_operations(nn.Sequential(layer), torch.rand(1, 1, 8, 8)))
    assert (ops.kind, ops.macs) == ("optical", 3 * 64 * 9)  # out × H × W × k²
    assert ops.array_macs == (2 if signed else 1) * ops.macs
    assert (ops.adc_conversions, ops.adc_bits) == (channels * 64, 5)
    assert (ops.dac_conversions, ops.dac_bits) == (64, 4)  # the input pixels


def test_the_optical_cnn_counts_optics_and_a_mixed_classifier():
    torch.manual_seed(0)
    net = optical_cnn(
        8, out_channels=2, kernel_size=3, pool=2, hardware=NO_DAC, classifier_hardware=HW
    )
    ops = count_operations(net, torch.rand(1, 1, 8, 8))
    assert [(o.name, o.kind, o.macs, o.adc_conversions) for o in ops] == [
        ("0", "optical", 2 * 64 * 9, 4 * 64),
        ("5", "analog", 10 * 2 * 4 * 4, 10),
    ]
    assert ops[0].dac_bits is None and ops[0].dac_conversions == 64


# -- the protocol -----------------------------------------------------------------------------


def test_the_mode_is_restored_and_nothing_needs_a_gradient():
    net = small_cnn(8, kernel_size=3, padding=1, batchnorm=True, channels=(4, 8))
    net.train()
    net[1].eval()  # a mixed state comes back as it was
    before = net[1].running_mean.clone()
    count_operations(net, torch.rand(3, 1, 8, 8))
    assert net.training and not net[1].training and net[4].training
    assert torch.equal(net[1].running_mean, before)  # eval mode: BN statistics untouched
    assert all(p.grad is None for p in net.parameters())


def test_one_sample_is_counted_whatever_the_batch():
    layer = MixedConv2d(3, 4, 3, hardware=HW)
    assert count_operations(layer, torch.rand(7, 3, 8, 8)) == count_operations(
        layer, torch.rand(1, 3, 8, 8)
    )


def test_a_layer_run_twice_counts_twice():
    lin = nn.Linear(6, 6)
    ops = only(count_operations(nn.Sequential(lin, nn.ReLU(), lin), torch.rand(1, 6)))
    assert ops.macs == 2 * 36


@pytest.mark.parametrize("x", [[1.0, 2.0], torch.tensor(1.0), torch.rand(0, 10)])
def test_bad_inputs_are_refused(x):
    with pytest.raises(MixsigError, match="example_input"):
        count_operations(nn.Linear(10, 2), x)


def test_digital_parameters_leave_out_what_the_optics_realise():
    from mixsig.eval.energy import digital_parameters
    from mixsig.models import optical_cnn

    model = optical_cnn(12, 10, out_channels=2, kernel_size=3, hidden=5, doe_levels=None)
    # optical bias 2 + BN 2·2 + hidden (2·3·3)·5 + 5 + classifier 5·10 + 10
    assert digital_parameters(model) == 2 + 4 + 18 * 5 + 5 + 50 + 10
    assert digital_parameters(torch.nn.Linear(3, 2)) == 8
