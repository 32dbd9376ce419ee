"""The price of one inference (`energy_per_inference`) against hand computations with the
Horowitz numbers and the FOM·2^b converters, the photon energy against h·c/λ, the all-digital
reference network, and refusals of bad arguments."""

import math

import pytest
import torch

import mixsig
from mixsig import ConfigError, MixsigError
from mixsig.config.energy import EnergyConfig
from mixsig.eval.energy import (
    LayerOps,
    all_digital,
    count_operations,
    detected_photons,
    energy_per_inference,
    photon_energy_j,
)
from mixsig.models import small_cnn

PJ, FJ = 1e-12, 1e-15
FOM = 50 * FJ  # the default ADC and DAC figures of merit, J per conversion step

ANALOG = LayerOps("conv", "analog", 6912, 512, 5, 1728, 4, None, 13824)
OPTICAL = LayerOps("optics", "optical", 1728, 384, 4, 64, None, None, 3456)
DIGITAL = LayerOps("fc", "digital", 320)


def test_an_analog_layer_costs_its_conversions():
    e = energy_per_inference([ANALOG], EnergyConfig())
    assert e.adc_j == pytest.approx(512 * FOM * 2**5)  # 0.82 nJ
    assert e.dac_j == pytest.approx(1728 * FOM * 2**4)
    assert e.digital_j == 0 and e.analog_array_j == 0 and e.optical_source_j == 0
    assert e.total_j == pytest.approx(e.adc_j + e.dac_j)


@pytest.mark.parametrize(
    "bits, mac_pj", [(8, 0.2 + 0.1), (4, 0.2 / 4 + 0.1), (16, 0.2 * 4 + 0.1), (None, 3.7 + 0.9)]
)
def test_digital_macs_at_horowitz_prices(bits, mac_pj):
    e = energy_per_inference([DIGITAL], EnergyConfig(), digital_bits=bits)
    assert e.digital_j == pytest.approx(320 * mac_pj * PJ)
    assert e.total_j == e.digital_j


def test_each_adc_bit_doubles_the_adc_energy():
    energies = [
        energy_per_inference([LayerOps("l", "analog", 1, 10, b)], EnergyConfig()).adc_j
        for b in range(1, 9)
    ]
    assert energies[0] == pytest.approx(10 * FOM * 2)
    assert all(b == pytest.approx(2 * a) for a, b in zip(energies, energies[1:]))


def test_the_analog_array_costs_what_it_is_given():
    cfg = EnergyConfig(analog_mac_j=2 * FJ)
    e = energy_per_inference([ANALOG, OPTICAL, DIGITAL], cfg)
    assert e.analog_array_j == pytest.approx(13824 * 2 * FJ)  # the analog layer's array MACs
    assert energy_per_inference([ANALOG], EnergyConfig()).analog_array_j == 0.0


@pytest.mark.parametrize(
    "display, dac_bits, expected",
    [
        ("modulator", None, 64 * FOM * 2**8),  # no DAC of its own: modulator_bits = 8
        ("modulator", 4, 64 * FOM * 2**4),
        ("scene", 4, 0.0),
        ("scene", None, 0.0),
    ],
)
def test_the_optical_input_is_written_only_by_a_modulator(display, dac_bits, expected):
    ops = [LayerOps("optics", "optical", 1728, 384, 4, 64, dac_bits)]
    e = energy_per_inference(ops, EnergyConfig(input_display=display))
    assert e.dac_j == pytest.approx(expected, abs=0)
    assert e.adc_j == pytest.approx(384 * FOM * 2**4)  # the camera is read either way


def test_modulator_bits_apply_to_a_layer_without_dac():
    e = energy_per_inference([OPTICAL], EnergyConfig(modulator_bits=6))
    assert e.dac_j == pytest.approx(64 * FOM * 2**6)


def test_the_photon_energy_is_h_c_over_lambda():
    # independently: 1239.841984 eV·nm / λ, with the exact elementary charge
    ev = 1239.841984 / 532.0
    assert photon_energy_j(532e-9) == pytest.approx(ev * 1.602176634e-19, rel=1e-9)
    assert photon_energy_j(1064e-9) == pytest.approx(photon_energy_j(532e-9) / 2, rel=1e-15)


def test_the_source_pays_for_every_loss_on_the_way():
    cfg = EnergyConfig(detector_quantum_efficiency=0.8, source_wall_plug_efficiency=0.2)
    e = energy_per_inference([OPTICAL], cfg, photons_per_inference=1e6, optical_efficiency=0.5)
    per_photon = 6.62607015e-34 * 299792458 / 532e-9
    assert e.optical_source_j == pytest.approx(1e6 * per_photon / (0.8 * 0.5 * 0.2), rel=1e-12)
    assert e.total_j == pytest.approx(e.adc_j + e.dac_j + e.optical_source_j)


def test_photons_per_mac_count_the_optical_macs_only():
    assert detected_photons([OPTICAL, ANALOG, DIGITAL], 2.5) == 2.5 * 1728
    assert detected_photons([ANALOG, DIGITAL], 100.0) == 0.0


def test_the_total_is_the_sum_and_the_dict_has_every_part():
    e = energy_per_inference([ANALOG, OPTICAL, DIGITAL], EnergyConfig(), photons_per_inference=10)
    d = e.as_dict()
    assert list(d) == [
        "adc_j",
        "dac_j",
        "digital_j",
        "analog_array_j",
        "optical_source_j",
        "total_j",
    ]
    assert d["total_j"] == pytest.approx(sum(v for k, v in d.items() if k != "total_j"))


def test_a_counted_network_against_a_loop_over_its_layers():
    hw = {
        "dac": {"bits": 3, "range": "fixed", "lo": 0.0, "hi": 1.0},
        "adc": {"bits": 6, "signed": True, "range": "fixed", "lo": -8.0, "hi": 8.0},
    }
    net = mixsig.convert(small_cnn(8, kernel_size=3, padding=1, channels=(4, 8)), hw)
    e = energy_per_inference(count_operations(net, torch.rand(1, 1, 8, 8)), EnergyConfig())
    adc = (4 * 64 + 8 * 16 + 10) * FOM * 2**6
    dac = (64 * 9 + 16 * 36 + 32) * FOM * 2**3
    assert (e.adc_j, e.dac_j, e.digital_j) == pytest.approx((adc, dac, 0.0))


# -- the all-digital reference ----------------------------------------------------------------


def test_all_digital_does_every_mac_digitally_at_the_given_bits():
    ops = all_digital([ANALOG, OPTICAL, DIGITAL], bits=8)
    assert [(o.name, o.kind, o.macs, o.digital_bits) for o in ops] == [
        ("conv", "digital", 6912, 8),
        ("optics", "digital", 1728, 8),
        ("fc", "digital", 320, 8),
    ]
    assert all(o.adc_conversions == o.dac_conversions == o.array_macs == 0 for o in ops)
    e = energy_per_inference(ops, EnergyConfig(), digital_bits=None)  # the layers' 8 bits win
    assert e.digital_j == pytest.approx((6912 + 1728 + 320) * 0.3 * PJ)
    assert e.total_j == e.digital_j


def test_all_digital_without_bits_takes_the_costs_width():
    ops = all_digital([ANALOG, DIGITAL], bits=None)
    e = energy_per_inference(ops, EnergyConfig(), digital_bits=None)
    assert e.total_j == pytest.approx((6912 + 320) * 4.6 * PJ)


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"digital_bits": 0}, "digital_bits"),
        ({"digital_bits": 33}, "digital_bits"),
        ({"digital_bits": 8.0}, "digital_bits"),
        ({"digital_bits": True}, "digital_bits"),
        ({"photons_per_inference": -1.0}, "photons_per_inference"),
        ({"photons_per_inference": math.nan}, "photons_per_inference"),
        ({"photons_per_inference": "many"}, "photons_per_inference"),
        ({"optical_efficiency": 0.0}, "optical_efficiency"),
        ({"optical_efficiency": 1.5}, "optical_efficiency"),
        ({"optical_efficiency": math.inf}, "optical_efficiency"),
    ],
)
def test_bad_arguments_are_refused_naming_them(kwargs, name):
    with pytest.raises(MixsigError, match=name):
        energy_per_inference([ANALOG], EnergyConfig(), **kwargs)


def test_a_config_mapping_is_validated():
    e = energy_per_inference([ANALOG], {"adc_fom_j_per_step": 0.0})
    assert e.adc_j == 0.0 and e.dac_j > 0
    with pytest.raises(ConfigError, match="adc_fom_j_per_step"):
        energy_per_inference([ANALOG], {"adc_fom_j_per_step": -1.0})


@pytest.mark.parametrize("bits", [0, 64, 2.5, False])
def test_all_digital_refuses_bad_bits(bits):
    with pytest.raises(MixsigError, match="bits"):
        all_digital([ANALOG], bits=bits)


def test_detected_photons_refuses_a_negative_rate():
    with pytest.raises(MixsigError, match="photons_per_mac"):
        detected_photons([OPTICAL], -1.0)
