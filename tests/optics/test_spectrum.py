"""Source spectra (`mixsig.optics.spectrum`): normalisation, the Gauss–Hermite sampling of a
Gaussian against its exact moments, config values, and the refusals with value and range."""

from __future__ import annotations

import math

import pytest

from mixsig.errors import MixsigError
from mixsig.optics.spectrum import MAX_LINES, Spectrum, SpectrumError, as_spectrum

SIGMA_PER_FWHM = 1 / (2 * math.sqrt(2 * math.log(2)))


def test_lines_are_normalised_to_unit_weight():
    s = Spectrum.lines([500e-9, 550e-9, 600e-9], [1, 2, 1])
    assert s.weights == (0.25, 0.5, 0.25)
    assert Spectrum.lines([500e-9, 600e-9]).weights == (0.5, 0.5)  # equal by default
    assert s.shortest_m == 500e-9 and s.longest_m == 600e-9
    assert s.mean_m == pytest.approx(550e-9, rel=1e-15)
    assert Spectrum.monochromatic(532e-9).is_monochromatic_at(532e-9)
    assert not s.is_monochromatic_at(550e-9)


@pytest.mark.parametrize("samples", [2, 3, 5, 8])
def test_gaussian_sampling_integrates_its_moments_exactly(samples):
    """S-point Gauss–Hermite: Σw = 1, mean λc, variance σ², and for S ≥ 3 the 4th central
    moment 3σ⁴ (exact for polynomials of degree ≤ 2S − 1); symmetric about λc."""
    c, fwhm = 532e-9, 20e-9
    s = Spectrum.gaussian(c, fwhm, samples)
    sigma = fwhm * SIGMA_PER_FWHM
    lam, w = s.wavelengths_m, s.weights
    assert len(lam) == samples and math.fsum(w) == pytest.approx(1, abs=1e-15)
    assert s.mean_m == pytest.approx(c, rel=1e-14)
    var = math.fsum(wi * (x - c) ** 2 for wi, x in zip(w, lam))
    assert var == pytest.approx(sigma**2, rel=1e-12)
    if samples >= 3:
        m4 = math.fsum(wi * (x - c) ** 4 for wi, x in zip(w, lam))
        assert m4 == pytest.approx(3 * sigma**4, rel=1e-12)
    for a, b in zip(lam, reversed(lam)):
        assert a - c == pytest.approx(c - b, abs=1e-20)
    assert (c in lam) == (samples % 2 == 1)  # odd S holds the centre itself


def test_zero_width_or_one_sample_is_one_line_at_the_centre():
    assert Spectrum.gaussian(532e-9, 0.0, 5) == Spectrum.monochromatic(532e-9)
    assert Spectrum.gaussian(532e-9, 30e-9, 1) == Spectrum.monochromatic(532e-9)


def test_config_values():
    assert as_spectrum(None) is None
    s = as_spectrum({"wavelengths_m": [5e-7, 6e-7], "weights": [1, 3]})
    assert s == Spectrum.lines([5e-7, 6e-7], [0.25, 0.75])
    g = {"center_m": 5.32e-7, "fwhm_m": 1e-8, "samples": 3, "wavelengths_m": None}
    assert as_spectrum(g) == Spectrum.gaussian(5.32e-7, 1e-8, 3)  # None keys left out
    assert as_spectrum({"center_m": 5.32e-7, "fwhm_m": 1e-8}) == Spectrum.gaussian(5.32e-7, 1e-8)
    with pytest.raises(SpectrumError, match="got the keys \\['center_m'\\]"):
        as_spectrum({"center_m": 5e-7})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Spectrum.lines([5e-7, 6e-7], [1, -0.5]), r"weights\[1\] = -0.5: .* ≥ 0"),
        (lambda: Spectrum.lines([5e-7, 6e-7], [0, 0]), r"weights \[0.0, 0.0\] are all zero"),
        (lambda: Spectrum.lines([5e-7, -6e-7]), r"wavelengths_m\[1\] = -6e-07 m: .* > 0"),
        (lambda: Spectrum.lines([5e-7, float("nan")]), r"wavelengths_m\[1\] must be finite"),
        (lambda: Spectrum.lines([5e-7, 6e-7], [1]), "1 to 64 wavelengths and as many weights"),
        (lambda: Spectrum.lines([]), "1 to 64 wavelengths"),
        (lambda: Spectrum.lines([5e-7] * (MAX_LINES + 1)), "1 to 64 wavelengths"),
        (lambda: Spectrum.lines([True]), r"wavelengths_m\[0\] must be a real number"),
        (lambda: Spectrum.gaussian(5e-7, -1e-9), r"fwhm_m = -1e-09 m must be ≥ 0"),
        (lambda: Spectrum.gaussian(-5e-7, 1e-9), r"center_m = -5e-07 m: .* > 0"),
        (lambda: Spectrum.gaussian(5e-7, 1e-8, 0), r"samples = 0 must be in \[1, 64\]"),
        (lambda: Spectrum.gaussian(5e-7, 1e-8, 2.0), r"samples must be an integer in \[1, 64\]"),
        (lambda: Spectrum.gaussian(5e-7, 6e-7, 9), r"reaches .* ≤ 0: use a FWHM below"),
    ],
)
def test_bad_spectra_are_refused_with_the_value_and_the_range(make, message):
    with pytest.raises(SpectrumError, match=message):
        make()
    assert issubclass(SpectrumError, MixsigError)
