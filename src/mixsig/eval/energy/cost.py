"""The energy of one inference: `energy_per_inference`, its `EnergyBreakdown`, the all-digital
reference network (`all_digital`) and the detected photons of an exposure (`detected_photons`).

Owns the prices of the operations `mixsig.eval.energy.counts` counts, with the constants of an
`EnergyConfig` (their sources: `mixsig.config.energy`, docs/energy.md). Per inference, in
joules:

* ADC:     Σ_layers conversions · FOM_ADC · 2^adc_bits
* DAC:     Σ_layers values written · FOM_DAC · 2^dac_bits — an optical layer's input pixels only
           when ``input_display`` is ``"modulator"`` (at ``modulator_bits`` when the layer has
           no input DAC of its own), nothing for ``"scene"``
* digital: Σ_digital layers MACs · E_MAC(bits), E_MAC(b) = (b/8)²·E_mul8 + E_add32, float32:
           E_mul32f + E_add32f (`EnergyConfig.digital_mac_j`)
* analog array: Σ_analog layers array MACs · ``analog_mac_j`` (0 by default)
* optical source: N · h·c/λ / (QE · η_optics · η_wall-plug), N the detected photo-electrons
  per inference (Wang et al., Nat. Commun. 13:123, 2022 count them as photons per MAC ×
  MACs: `detected_photons`)

h and c are the exact SI values (2019 SI).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from numbers import Real

from mixsig.config.energy import EnergyConfig
from mixsig.config.io import validate
from mixsig.errors import MixsigError
from mixsig.eval.energy.counts import LayerOps

#: the Planck constant, J·s (exact in the 2019 SI)
PLANCK_J_S = 6.626_070_15e-34
#: the speed of light in vacuum, m/s (exact)
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
#: the widest integer MAC the model prices, bits
DIGITAL_BITS_MAX = 32


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy per inference by where it is spent, J; ``total_j`` is their sum."""

    adc_j: float
    dac_j: float
    digital_j: float
    analog_array_j: float
    optical_source_j: float
    total_j: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def photon_energy_j(wavelength_m: float) -> float:
    """h·c/λ, the energy of one photon of wavelength ``wavelength_m``, J."""
    return PLANCK_J_S * SPEED_OF_LIGHT_M_PER_S / wavelength_m


def _check_bits(bits: object, name: str) -> int | None:
    if bits is None:
        return None
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= DIGITAL_BITS_MAX:
        raise MixsigError(
            f"{name} must be an integer in [1, {DIGITAL_BITS_MAX}] or None (float32), got {bits!r}"
        )
    return bits


def _check_number(value: object, name: str, lo: float, hi: float, *, lo_open: bool) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        raise MixsigError(f"{name} must be a number in {bracket}{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def _conversions_j(conversions: int, bits: int | None, fom_j_per_step: float) -> float:
    return 0.0 if not conversions or bits is None else conversions * fom_j_per_step * 2.0**bits


def _dac_j(o: LayerOps, cfg: EnergyConfig) -> float:
    if o.kind == "optical":
        if cfg.input_display == "scene":
            return 0.0
        bits = o.dac_bits if o.dac_bits is not None else cfg.modulator_bits
        return _conversions_j(o.dac_conversions, bits, cfg.dac_fom_j_per_step)
    return _conversions_j(o.dac_conversions, o.dac_bits, cfg.dac_fom_j_per_step)


def energy_per_inference(
    ops: list[LayerOps],
    cfg: EnergyConfig,
    *,
    digital_bits: int | None = 8,
    photons_per_inference: float = 0.0,
    optical_efficiency: float = 1.0,
) -> EnergyBreakdown:
    """The energy of one inference of the network counted in ``ops`` (module docstring).

    cfg: the constants (an `EnergyConfig` or a mapping of its fields).

    digital_bits: the integer width of the digital MACs of layers whose own
        ``digital_bits`` is None, 1-32; None: float32.
    photons_per_inference: detected photo-electrons per inference, all optical layers
        together (≥ 0; `detected_photons` gives them from photons per MAC).
    optical_efficiency: the fraction of the source's photons that reach the camera, (0, 1].
    """
    cfg = validate(EnergyConfig, cfg, source="cfg")
    digital_bits = _check_bits(digital_bits, "digital_bits")
    photons = _check_number(photons_per_inference, "photons_per_inference", 0, 1e30, lo_open=False)
    eta = _check_number(optical_efficiency, "optical_efficiency", 0, 1, lo_open=True)
    adc = dac = digital = array = 0.0
    for o in ops:
        if o.kind == "digital":
            bits = digital_bits if o.digital_bits is None else o.digital_bits
            digital += o.macs * cfg.digital_mac_j(bits)
            continue
        adc += _conversions_j(o.adc_conversions, o.adc_bits, cfg.adc_fom_j_per_step)
        dac += _dac_j(o, cfg)
        if o.kind == "analog":
            array += o.array_macs * cfg.analog_mac_j
    efficiency = cfg.detector_quantum_efficiency * eta * cfg.source_wall_plug_efficiency
    source = photons * photon_energy_j(cfg.wavelength_m) / efficiency
    return EnergyBreakdown(adc, dac, digital, array, source, adc + dac + digital + array + source)


def all_digital(ops: list[LayerOps], bits: int | None = 8) -> list[LayerOps]:
    """The same network with every layer's MACs done digitally at ``bits`` (1-32; None: at
    the cost's ``digital_bits``), no ADC, no DAC: the all-digital reference costed with the
    same model. Digital layers are set to ``bits`` too, so the whole network is at ``bits``."""
    bits = _check_bits(bits, "bits")
    return [
        replace(
            o,
            kind="digital",
            adc_conversions=0,
            adc_bits=None,
            dac_conversions=0,
            dac_bits=None,
            digital_bits=bits,
            array_macs=0,
        )
        for o in ops
    ]


def detected_photons(ops: list[LayerOps], photons_per_mac: float) -> float:
    """The detected photo-electrons of one inference at ``photons_per_mac`` (≥ 0): photons
    per MAC × the optical layers' MACs (Wang et al. 2022: photons per MAC = detected photons
    per output / MACs per output, the MACs of the signed convolution, k² per output)."""
    p = _check_number(photons_per_mac, "photons_per_mac", 0, 1e30, lo_open=False)
    return p * sum(o.macs for o in ops if o.kind == "optical")


__all__ = [
    "PLANCK_J_S",
    "SPEED_OF_LIGHT_M_PER_S",
    "EnergyBreakdown",
    "all_digital",
    "detected_photons",
    "energy_per_inference",
    "photon_energy_j",
]
