"""The energy model's constants (`EnergyConfig`): the documented defaults and their sources'
values, the digital MAC rule, and refusals of values outside each field's range."""

import math

import pytest

from mixsig import ConfigError
from mixsig.config import validate
from mixsig.config.energy import ENERGY_MAX_J, HOROWITZ_45NM_J, EnergyConfig

PJ = 1e-12


def test_the_defaults_are_the_documented_values():
    cfg = EnergyConfig()
    assert cfg.adc_fom_j_per_step == 50e-15 and cfg.dac_fom_j_per_step == 50e-15
    assert cfg.int8_multiply_j == pytest.approx(0.2 * PJ)
    assert cfg.int32_add_j == pytest.approx(0.1 * PJ)
    assert cfg.fp32_multiply_j == pytest.approx(3.7 * PJ)
    assert cfg.fp32_add_j == pytest.approx(0.9 * PJ)
    assert cfg.analog_mac_j == 0.0
    assert cfg.wavelength_m == 532e-9
    assert cfg.detector_quantum_efficiency == 0.8 and cfg.source_wall_plug_efficiency == 0.2
    assert cfg.input_display == "modulator" and cfg.modulator_bits == 8


def test_the_horowitz_table_is_the_isscc_2014_one():
    expected_pj = {
        "int8_add": 0.03,
        "int8_multiply": 0.2,
        "int32_add": 0.1,
        "int32_multiply": 3.1,
        "fp32_add": 0.9,
        "fp32_multiply": 3.7,
    }
    assert HOROWITZ_45NM_J == pytest.approx({k: v * PJ for k, v in expected_pj.items()})


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16, 32])
def test_an_integer_mac_is_the_scaled_multiply_plus_a_32_bit_add(bits):
    cfg = EnergyConfig()
    assert cfg.digital_mac_j(bits) == pytest.approx(0.2 * PJ * (bits / 8) ** 2 + 0.1 * PJ)


def test_a_float32_mac_is_a_float_multiply_plus_a_float_add():
    assert EnergyConfig().digital_mac_j(None) == pytest.approx(4.6 * PJ)


def test_the_scaling_rule_lands_near_horowitz_32_bit_multiply():
    """(32/8)² × 0.2 pJ = 3.2 pJ against the measured 3.1 pJ: the b² rule is within 5 %."""
    scaled = HOROWITZ_45NM_J["int8_multiply"] * (32 / 8) ** 2
    assert scaled == pytest.approx(3.2 * PJ)
    assert abs(scaled / HOROWITZ_45NM_J["int32_multiply"] - 1) < 0.05


def test_every_field_says_its_unit_and_range():
    for name, field in EnergyConfig.model_fields.items():
        assert field.description, name
        assert any(w in field.description for w in ("in [", "in (", "'modulator'")), name


def test_values_in_range_are_kept():
    cfg = validate(
        EnergyConfig,
        {
            "adc_fom_j_per_step": 0.0,
            "dac_fom_j_per_step": ENERGY_MAX_J,
            "analog_mac_j": 1e-15,
            "wavelength_m": 1550e-9,
            "detector_quantum_efficiency": 1.0,
            "source_wall_plug_efficiency": 1,
            "input_display": "scene",
            "modulator_bits": 16,
        },
    )
    assert cfg.dac_fom_j_per_step == ENERGY_MAX_J and cfg.input_display == "scene"
    assert cfg.source_wall_plug_efficiency == 1.0 and cfg.modulator_bits == 16


@pytest.mark.parametrize(
    "field, value",
    [
        ("adc_fom_j_per_step", -1e-15),
        ("adc_fom_j_per_step", 2e-9),
        ("adc_fom_j_per_step", math.nan),
        ("adc_fom_j_per_step", True),
        ("dac_fom_j_per_step", math.inf),
        ("int8_multiply_j", -0.2e-12),
        ("int32_add_j", "lots"),
        ("fp32_multiply_j", 1.0),
        ("fp32_add_j", -1.0),
        ("analog_mac_j", -1e-15),
        ("wavelength_m", 532.0),
        ("wavelength_m", 0.0),
        ("detector_quantum_efficiency", 0.0),
        ("detector_quantum_efficiency", 1.2),
        ("source_wall_plug_efficiency", -0.1),
        ("source_wall_plug_efficiency", False),
        ("input_display", "projector"),
        ("modulator_bits", 0),
        ("modulator_bits", 17),
        ("modulator_bits", 8.0),
        ("modulator_bits", True),
    ],
)
def test_bad_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        validate(EnergyConfig, {field: value})


def test_unknown_keys_and_bad_assignments_are_refused():
    with pytest.raises(ConfigError, match="adc_fom"):
        validate(EnergyConfig, {"adc_fom": 1e-15})  # a typo is an error, not a default
    cfg = EnergyConfig()
    with pytest.raises(ValueError, match="detector_quantum_efficiency"):
        cfg.detector_quantum_efficiency = 2.0
