"""The output half of `calibrate_folder`: the hardware description, the maps file, the YAML
and the report folder, built from the fits in the pipeline's `State`.

The steps run in the order of `OUTPUT_STEPS`, after `mixsig.calib.pipeline.MEASUREMENT_STEPS`:
the hardware first, then the files -- the maps before the YAML, so that a YAML never names a
file that is not there yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mixsig.calib.maps import maps_arrays, save_maps
from mixsig.calib.pipeline import State
from mixsig.config.hardware import (
    ADCConfig,
    CrosstalkConfig,
    GainConfig,
    GainOffsetConfig,
    HardwareConfig,
    NoiseConfig,
    WeightConfig,
    with_absolute_paths,
)
from mixsig.config.io import save_yaml

__all__ = ["OUTPUT_STEPS", "build_hardware", "make_report_dir", "write_maps", "write_yaml"]


def _distortion(s: State) -> list[Any]:
    """The distortions in the order light meets them: misregistration, crosstalk,
    gain/offset (the measured maps, or their statistics), transfer curve."""
    measured = s.opts.maps == "measured"
    maps_name = s.maps_path.name  # type: ignore[union-attr]
    distortion: list[Any] = []
    if s.misreg is not None:
        distortion.append(s.misreg.to_config())
    if s.crosstalk is not None:
        distortion.append(CrosstalkConfig(maps=maps_name) if measured else s.crosstalk.to_config())
    if s.fixed is not None:
        fs_fixed = s.need_fs("fixed pattern")  # the offset map is a fraction of full scale
        distortion.append(
            GainOffsetConfig(maps=maps_name)
            if measured
            else s.fixed.to_config(full_scale_dn=fs_fixed)
        )
    if s.chosen is not None:
        distortion.append(s.transfer_fits[s.chosen].to_config())
    return distortion


def _noise(s: State, base: HardwareConfig) -> NoiseConfig:
    """From the PTC; else read noise from one dark pair; else ``base``'s noise."""
    o = s.opts
    noise_extra = {"source": base.noise.source, "seed": base.noise.seed}
    darks = s.darks
    if s.ptc is not None:
        return s.ptc.to_config(
            full_scale_dn=s.need_fs("noise"), adc_bits=o.adc_bits, read_noise_as=o.read_noise_as
        ).model_copy(update=noise_extra)
    if darks is not None and darks.shape[0] >= 2 and math.isfinite(s.fs):
        read_dn = math.sqrt(
            max(float(np.var(darks[0].astype(float) - darks[1], ddof=1)) / 2 - 1 / 12, 0.0)
        )
        noise = NoiseConfig(sigma_lsb=read_dn * (2**o.adc_bits - 1) / s.fs, **noise_extra)
        s.warnings.append(
            "no photon transfer curve: shot noise not set; read noise from one dark pair"
        )
        return noise
    s.warnings.append("no photon transfer curve or dark pair: the noise of `base` was kept")
    return base.noise


def build_hardware(s: State) -> None:
    """``hardware``: `base`'s DAC and weights, the measured distortions and noise, and an
    unsigned ADC over the fixed range [0, 1] (full scale) with a learned gain."""
    o = s.opts
    base = (
        o.base
        if o.base is not None
        else HardwareConfig(weights=WeightConfig(realisation="differential"))
    )
    s.maps_path = s.out_yaml.with_name(s.out_yaml.stem + ".maps.npz")
    distortion = _distortion(s)
    noise = _noise(s, base)
    gain_cfg = base.adc.gain or (GainConfig(init=1.0, learned=True) if o.learned_gain else None)
    adc = ADCConfig(bits=o.adc_bits, signed=False, range="fixed", lo=0.0, hi=1.0, gain=gain_cfg)
    if not math.isfinite(s.fs):
        s.warnings.append("full scale unknown: the ADC range [0, 1] is in units of an unknown DN")
    s.hardware = HardwareConfig(
        dac=base.dac, weights=base.weights, distortion=distortion, noise=noise, adc=adc
    )


def write_maps(s: State) -> None:
    """``<stem>.maps.npz`` next to the YAML when a map was measured (else ``maps_path`` None)."""
    s.out_yaml.parent.mkdir(parents=True, exist_ok=True)
    arrays = maps_arrays(s.fixed, s.crosstalk, s.fs, s.dark_dn)
    if arrays:
        save_maps(s.maps_path, arrays)  # type: ignore[arg-type]
    else:
        s.maps_path = None


def write_yaml(s: State) -> None:
    """The hardware YAML (map paths relative to it); in memory the paths become absolute."""
    save_yaml(s.hardware, s.out_yaml)
    s.hardware = with_absolute_paths(s.hardware, s.out_yaml.parent)


def make_report_dir(s: State) -> None:
    """``report_dir``: the one given, else ``<stem>_report/`` next to the YAML."""
    rd = s.opts.report_dir
    s.report_dir = Path(rd) if rd is not None else s.out_yaml.with_name(s.out_yaml.stem + "_report")
    s.report_dir.mkdir(parents=True, exist_ok=True)


#: The steps that write, in the order `calibrate_folder` runs them.
OUTPUT_STEPS: tuple[Callable[[State], None], ...] = (
    build_hardware,
    write_maps,
    write_yaml,
    make_report_dir,
)
