"""Material dispersion (`mixsig.optics.dispersion`): Malitson's fused silica against its
published indices, the Cauchy model against its formula, the phase scale α(λ), refusals."""

from __future__ import annotations

import math

import pytest

from mixsig.errors import MixsigError
from mixsig.optics.dispersion import (
    FUSED_SILICA,
    Cauchy,
    MaterialError,
    Sellmeier,
    dispersion_scale,
    material_from_spec,
)


@pytest.mark.parametrize(
    "wavelength_m, n",
    [(587.6e-9, 1.4585), (1064e-9, 1.4496), (632.8e-9, 1.4570), (486.1e-9, 1.4632)],
)
def test_fused_silica_matches_malitson_1965(wavelength_m, n):
    """n_d = 1.4585 at the helium d line (587.6 nm), 1.4496 at 1064 nm, and the HeNe and F line
    values of the same fit (Malitson 1965), to 1e-4."""
    assert FUSED_SILICA.index(wavelength_m) == pytest.approx(n, abs=1e-4)


def test_sellmeier_is_its_formula():
    lam_um = 0.55
    terms = zip(FUSED_SILICA.b, FUSED_SILICA.c_um2)
    n2 = 1 + sum(b * lam_um**2 / (lam_um**2 - c) for b, c in terms)
    assert FUSED_SILICA.index(lam_um * 1e-6) == pytest.approx(math.sqrt(n2), abs=1e-15)
    # normal dispersion: n falls with the wavelength across the visible
    ns = [FUSED_SILICA.index(x * 1e-9) for x in range(400, 801, 50)]
    assert all(a > b for a, b in zip(ns, ns[1:]))


def test_cauchy_is_its_formula_and_a_two_line_fit_follows_the_sellmeier_one():
    """A + B/λ² through the F and C lines (486.1, 656.3 nm) of Malitson's fused silica stays
    within 2e-4 of it across the visible: the two models describe the same glass."""
    (l1, l2) = (0.4861, 0.6563)
    n1, n2 = FUSED_SILICA.index(l1 * 1e-6), FUSED_SILICA.index(l2 * 1e-6)
    b = (n1 - n2) / (1 / l1**2 - 1 / l2**2)
    a = n1 - b / l1**2
    glass = Cauchy(name="fused silica, two-line Cauchy", valid_m=(0.4e-6, 0.7e-6), a=a, b_um2=b)
    for lam in (0.4e-6, 0.55e-6, 0.7e-6):
        assert glass.index(lam) == pytest.approx(a + b / (lam * 1e6) ** 2, abs=1e-15)
        assert glass.index(lam) == pytest.approx(FUSED_SILICA.index(lam), abs=2e-4)
    c4 = Cauchy(name="c4", valid_m=(0.4e-6, 0.7e-6), a=1.5, b_um2=0.004, c_um4=0.0002)
    assert c4.index(0.5e-6) == pytest.approx(1.5 + 0.004 / 0.25 + 0.0002 / 0.0625, abs=1e-15)


def test_dispersion_scale_is_the_phase_of_a_fixed_height():
    lam0, lam = 532e-9, 600e-9
    n0, n = FUSED_SILICA.index(lam0), FUSED_SILICA.index(lam)
    alpha = dispersion_scale(FUSED_SILICA, lam, lam0)
    assert alpha == pytest.approx((n - 1) / (n0 - 1) * lam0 / lam, rel=1e-15)
    assert alpha < lam0 / lam < 1  # n(λ) < n(λ₀): less than the 1/λ scaling alone
    assert dispersion_scale(FUSED_SILICA, lam0, lam0) == 1.0  # exactly, not evaluated
    # at the design wavelength the model is never evaluated: any λ₀, even outside its range
    assert dispersion_scale(FUSED_SILICA, 10.6e-6, 10.6e-6) == 1.0


@pytest.mark.parametrize("wavelength_m", [200e-9, 3.8e-6, -5e-7, float("nan")])
def test_a_wavelength_outside_the_validity_range_is_refused(wavelength_m):
    with pytest.raises(MaterialError, match=r"outside the validity range .*0\.21–3\.71 µm"):
        FUSED_SILICA.index(wavelength_m)
    assert issubclass(MaterialError, MixsigError)
    with pytest.raises(MaterialError, match="210 nm to 3710 nm"):
        dispersion_scale(FUSED_SILICA, wavelength_m, 532e-9)


def test_materials_from_config_values_round_trip():
    assert material_from_spec("fused_silica") is FUSED_SILICA
    assert material_from_spec(FUSED_SILICA.spec()) == FUSED_SILICA
    spec = {"model": "cauchy", "a": 1.5, "b_um2": 0.004, "valid_m": [4e-7, 7e-7]}
    glass = material_from_spec(spec)
    assert isinstance(glass, Cauchy) and glass.valid_m == (4e-7, 7e-7)
    assert material_from_spec(glass.spec()) == glass
    with pytest.raises(
        MaterialError, match="'glass' is not known: use one of \\['fused_silica'\\]"
    ):
        material_from_spec("glass")
    with pytest.raises(MaterialError, match="model 'abbe' is not known"):
        material_from_spec({"model": "abbe"})
    with pytest.raises(MaterialError, match=r"0 < shortest < longest"):
        material_from_spec({**spec, "valid_m": [7e-7, 4e-7]})
    with pytest.raises(MaterialError, match="as many finite b as c_um2"):
        Sellmeier(name="s", valid_m=(4e-7, 7e-7), b=(1.0, 0.5), c_um2=(0.01,))
    with pytest.raises(MaterialError, match="n > 1"):
        Cauchy(name="vacuum", valid_m=(4e-7, 7e-7), a=1.0).index(5e-7)
