"""The constants of the per-inference energy model (pydantic v2): `EnergyConfig`.

This module owns the *schema* of what one analog conversion, one digital operation and one
detected photon cost, with every field's unit, range and source; `mixsig.eval.energy` counts a
network's operations and prices them with it. ``EnergyConfig()`` is the documented default;
the full citations and what the model leaves out are in docs/energy.md.

Sources of the defaults:

* ADC: the Walden figure of merit FOM_W = P / (2^ENOB · f_s), so one conversion at b bits
  costs FOM_W · 2^b. Default 50 fJ per conversion step, a round value near the median
  (49 fJ/step) of the Nyquist ADCs with SNDR ≤ 50 dB (≤ 8 effective bits) published at ISSCC
  and the VLSI Symposium since 2015 in B. Murmann, "ADC Performance Survey 1997–2025" (rev.
  2025-06-09, github.com/bmurmann/ADC-survey); the survey spans 0.35 fJ/step (best, a
  200 kS/s 10-bit SAR) to ≈ 560 fJ/step for those low-resolution designs.
* DAC / input modulator: the same form, FOM · 2^b per value written. Default 50 fJ/step is an
  *assumption* (no survey of comparable breadth is used): taken equal to the ADC's, so that
  neither converter is favoured.
* Digital arithmetic: M. Horowitz, "Computing's energy problem (and what we can do about it)",
  ISSCC 2014, 45 nm CMOS at 0.9 V (`HOROWITZ_45NM_J`). A b-bit integer MAC is a b-bit multiply
  plus a 32-bit add (accumulator); the multiply scales as (b/8)² from the 8-bit figure (the
  model's assumption: an array multiplier's area grows as b²; at b = 32 it gives 3.2 pJ
  against Horowitz's 3.1 pJ). A float32 MAC is a float32 multiply plus a float32 add.
* Optics: photon energy h·c/λ at ``wavelength_m`` (532 nm, the default source of
  `mixsig.optics.defaults`); the detector's quantum efficiency (default 0.8, an *assumption*:
  a scientific CMOS camera in the green) and the source's wall-plug efficiency (default 0.2,
  an *assumption*: electrical to optical power of a green laser or LED) turn detected
  photo-electrons into electrical energy at the source.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mixsig.config.hardware import Int, Real, _Strict

#: M. Horowitz, ISSCC 2014, 45 nm, 0.9 V: energy per operation in joules
HOROWITZ_45NM_J: dict[str, float] = {
    "int8_add": 0.03e-12,
    "int8_multiply": 0.2e-12,
    "int32_add": 0.1e-12,
    "int32_multiply": 3.1e-12,
    "fp32_add": 0.9e-12,
    "fp32_multiply": 3.7e-12,
}
#: the largest energy per operation or conversion step a field accepts, J (1 nJ: far above
#: any converter or arithmetic unit; the bound only keeps the number physical)
ENERGY_MAX_J = 1e-9

#: an energy per operation, J, in [0, 1e-9]
OpEnergy = Annotated[Real, Field(ge=0.0, le=ENERGY_MAX_J)]
#: a dimensionless efficiency in (0, 1]
Efficiency = Annotated[Real, Field(gt=0.0, le=1.0)]


class EnergyConfig(_Strict):
    """What one conversion, one digital operation and one detected photon cost (module
    docstring for the sources). Every energy is in joules; 0 leaves that term out."""

    adc_fom_j_per_step: OpEnergy = Field(
        50e-15,
        description="ADC Walden figure of merit, J per conversion step, in [0, 1e-9]; one "
        "conversion at b bits costs adc_fom_j_per_step · 2^b (default 50 fJ/step: Murmann's "
        "ADC survey, median of low-resolution Nyquist ADCs since 2015)",
    )
    dac_fom_j_per_step: OpEnergy = Field(
        50e-15,
        description="input DAC / modulator figure of merit, J per conversion step, in "
        "[0, 1e-9]; one value written at b bits costs dac_fom_j_per_step · 2^b (default "
        "50 fJ/step: an assumption, equal to the ADC's)",
    )
    int8_multiply_j: OpEnergy = Field(
        HOROWITZ_45NM_J["int8_multiply"],
        description="8-bit integer multiply, J, in [0, 1e-9] (Horowitz 2014: 0.2 pJ); a b-bit "
        "multiply costs (b/8)² times this",
    )
    int32_add_j: OpEnergy = Field(
        HOROWITZ_45NM_J["int32_add"],
        description="32-bit integer add (the accumulator of an integer MAC), J, in [0, 1e-9] "
        "(Horowitz 2014: 0.1 pJ)",
    )
    fp32_multiply_j: OpEnergy = Field(
        HOROWITZ_45NM_J["fp32_multiply"],
        description="float32 multiply, J, in [0, 1e-9] (Horowitz 2014: 3.7 pJ)",
    )
    fp32_add_j: OpEnergy = Field(
        HOROWITZ_45NM_J["fp32_add"],
        description="float32 add, J, in [0, 1e-9] (Horowitz 2014: 0.9 pJ)",
    )
    analog_mac_j: OpEnergy = Field(
        0.0,
        description="energy of one MAC inside an electronic analog array, J, in [0, 1e-9] "
        "(default 0: the conversions into and out of the array are what is costed)",
    )
    wavelength_m: Real = Field(
        532e-9,
        ge=100e-9,
        le=20e-6,
        description="wavelength of the optical source, m, in [1e-7, 2e-5] (default 532 nm)",
    )
    detector_quantum_efficiency: Efficiency = Field(
        0.8,
        description="detected photo-electrons per photon reaching the camera, dimensionless, "
        "in (0, 1] (default 0.8: an assumption)",
    )
    source_wall_plug_efficiency: Efficiency = Field(
        0.2,
        description="optical power emitted per electrical power drawn by the source, "
        "dimensionless, in (0, 1] (default 0.2: an assumption)",
    )
    input_display: Literal["modulator", "scene"] = Field(
        "modulator",
        description="how an optical layer's input image is made: 'modulator' (a DAC writes "
        "each input pixel to a spatial light modulator) or 'scene' (the optics see the "
        "object directly: no DAC)",
    )
    modulator_bits: Int = Field(
        8,
        ge=1,
        le=16,
        description="levels of the input modulator, bits, an integer in [1, 16], used for an "
        "optical layer whose hardware has no input DAC (dac: null) when input_display is "
        "'modulator' (default 8: an assumption)",
    )

    def digital_mac_j(self, bits: int | None) -> float:
        """One digital MAC, J: a ``bits``-bit integer multiply ((bits/8)² × the 8-bit one)
        plus a 32-bit integer add; ``None``: a float32 multiply plus a float32 add."""
        if bits is None:
            return self.fp32_multiply_j + self.fp32_add_j
        return self.int8_multiply_j * (bits / 8) ** 2 + self.int32_add_j


__all__ = ["HOROWITZ_45NM_J", "EnergyConfig"]
