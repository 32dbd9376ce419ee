"""`OpticalConv2d` with its PSF model (`mixsig.optics.psf_model.PSFModel`): the pixelated DOE
by default, broadband sources, the higher orders, and layer states written before the model.

Float64 equalities are to 1e-12 on outputs of order 1e-2 (FFT round-off); "bitwise" means
``torch.equal``: a zero-width spectrum and an old state compute exactly what they did.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers.optics import IDEAL
from helpers.optics import count_calls as _count
from helpers.optics import sampling as _sampling

from mixsig.errors import MixsigError
from mixsig.nn.optical import OpticalConv2d
from mixsig.optics import FUSED_SILICA, default_sampling, fabricated_phase, realised_psf
from mixsig.optics.dispersion import MaterialError
from mixsig.optics.psf_model import POINT_SAMPLED, PSFModel, PSFModelError
from mixsig.optics.spectrum import Spectrum, SpectrumError
from mixsig.signal import set_output_quantization

F64 = torch.float64
LAM = 532e-9
BAND = Spectrum.lines([510e-9, 532e-9, 560e-9], [1.0, 2.0, 1.5])

pytestmark = pytest.mark.usefixtures("one_thread")


def _doe_layer(seed: int = 0, **kw) -> OpticalConv2d:
    """N = 16 DOE, 6×6 images, 3×3 kernels, 2 unsigned tiles, random phase, 8 levels."""
    torch.manual_seed(seed)
    args = dict(
        image_size=6, sampling=_sampling(16), hardware=IDEAL, parameterisation="doe",
        doe_init="random_phase", doe_levels=8, signed=False, dtype=F64,
    )  # fmt: skip
    return OpticalConv2d(2, 3, **{**args, **kw})


def _x(seed: int = 1) -> torch.Tensor:
    return torch.rand(3, 1, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(seed))


def test_the_default_layer_models_the_pixelated_doe():
    layer = OpticalConv2d(8, 5, image_size=28)
    assert layer.psf_model == PSFModel() and layer.psf_model.pixel_envelope
    assert layer.psf_model.fill_factor == 1.0 and layer.psf_model.spectrum is None
    assert layer.sampling.doe_pixels == 128  # unchanged by the model at λ₀
    assert "psf=pixel envelope ff=1, monochromatic" in repr(layer)


def test_a_zero_width_spectrum_is_the_monochromatic_layer_bit_for_bit():
    x = _x()
    for envelope in (False, True):
        mono = _doe_layer(pixel_envelope=envelope)
        line = _doe_layer(pixel_envelope=envelope, spectrum=Spectrum.gaussian(LAM, 0.0, 5))
        assert torch.equal(line.phase_rad, mono.phase_rad)
        assert torch.equal(line(x), mono(x))
        with_box = dict(pixel_envelope=envelope, model_crosstalk=True)
        assert torch.equal(
            _doe_layer(**with_box, spectrum=Spectrum.lines([LAM]))(x), _doe_layer(**with_box)(x)
        )


def test_the_point_sampled_layer_is_the_layer_before_the_model():
    """pixel_envelope=False: `camera_psf` of the fabricated phase, as the layer computed it."""
    layer = _doe_layer(pixel_envelope=False)
    phi = fabricated_phase(layer.phase_rad, 8)
    expected = realised_psf(phi, layer.sampling, model=POINT_SAMPLED)
    assert torch.equal(layer.camera_plane_psf(), expected)
    assert torch.equal(layer.tile_kernels(), layer.layout.extract(expected))


def test_a_broadband_forward_is_the_weighted_sum_of_single_line_forwards():
    """One convolution with the summed PSF equals the weighted sum of the channels each line
    gives alone (a layer per line: the same phase, a one-line spectrum at that λ)."""
    x = _x(2)
    for crosstalk in (False, True):
        broad = _doe_layer(3, spectrum=BAND, model_crosstalk=crosstalk)
        expected = sum(
            w * _doe_layer(3, spectrum=Spectrum.lines([lam]), model_crosstalk=crosstalk)
            .optical_forward(x)
            for lam, w in zip(BAND.wavelengths_m, BAND.weights)
        )  # fmt: skip
        torch.testing.assert_close(broad.optical_forward(x), expected, atol=1e-13, rtol=0)
        mono = _doe_layer(3, model_crosstalk=crosstalk).optical_forward(x)
        assert float((broad.optical_forward(x) - mono).detach().abs().max()) > 1e-4


def test_the_layer_scales_the_etched_phase_by_the_dispersion():
    """Realised mode, continuous phase: the PSF at each line is that of α(λ)·wrap(φ)."""
    layer = _doe_layer(4, doe_levels=None, spectrum=Spectrum.lines([600e-9]))
    with torch.no_grad():
        layer.phase_rad.add_(4 * math.pi)  # unwrapped: the etched phase is its wrap
    model = PSFModel(spectrum=Spectrum.lines([600e-9]))
    expected = realised_psf(fabricated_phase(layer.phase_rad, None, wrap=True), layer.sampling,
                            model=model)  # fmt: skip
    assert torch.equal(layer.camera_plane_psf(), expected)
    alpha = (FUSED_SILICA.index(600e-9) - 1) / (FUSED_SILICA.index(LAM) - 1) * LAM / 600e-9
    assert model.lines(LAM)[0].phase_scale == pytest.approx(alpha, rel=1e-15)


@pytest.mark.parametrize("crosstalk", [False, True])
def test_gradcheck_through_the_broadband_pixelated_psf(crosstalk):
    layer = _doe_layer(5, doe_levels=None, spectrum=BAND, fill_factor=0.9,
                       model_crosstalk=crosstalk, sampling=_sampling(8), image_size=4)  # fmt: skip
    set_output_quantization(layer, False)
    x = torch.rand(2, 1, 4, 4, dtype=F64)

    def f(phase):
        return torch.func.functional_call(layer, {"phase_rad": phase}, (x,))

    phase = layer.phase_rad.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (phase,), eps=1e-6, atol=1e-8, rtol=1e-5)


def test_one_psf_per_forward_and_the_cache_follows_the_model(monkeypatch):
    layer = _doe_layer(6, spectrum=BAND, dtype=torch.float32).freeze_optics()
    calls = _count(monkeypatch, "realised_psf")
    x = _x().float()
    y1 = layer(x)
    assert calls[0] == 1  # all lines in one PSF
    assert torch.equal(layer(x), y1) and calls[0] == 1  # cached
    layer.psf_model = PSFModel(fill_factor=0.5, spectrum=BAND)
    assert not torch.allclose(layer(x), y1) and calls[0] == 2


# -- states and checkpoints -----------------------------------------------------------------


def test_the_state_dict_carries_the_model():
    src = _doe_layer(7, spectrum=BAND, fill_factor=0.8)
    dst = _doe_layer(8)
    assert dst.psf_model != src.psf_model
    dst.load_state_dict(src.state_dict())
    assert dst.psf_model == src.psf_model
    assert torch.equal(dst(_x()), src(_x()))


def test_a_state_written_before_the_model_loads_point_sampled_and_monochromatic():
    """A state without ``_extra_state`` (as written before the PSF model existed) loads into a
    default (pixelated) layer as the point-sampled, monochromatic layer: bit for bit the
    outputs of a layer built with pixel_envelope=False."""
    old = _doe_layer(9, pixel_envelope=False)
    state = old.state_dict()
    del state["_extra_state"]
    fresh = _doe_layer(10, spectrum=BAND)  # whatever it was built with
    fresh.load_state_dict(state)  # strict
    assert fresh.psf_model == POINT_SAMPLED
    assert torch.equal(fresh(_x()), old(_x()))


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, error, message",
    [
        ({"fill_factor": 0.0}, PSFModelError, r"fill_factor = 0.0 is outside \(0, 1\]"),
        ({"fill_factor": 1.2}, PSFModelError, r"fill_factor = 1.2 is outside \(0, 1\]"),
        ({"spectrum": {"wavelengths_m": [5e-7], "weights": [-1]}}, SpectrumError, "≥ 0"),
        ({"spectrum": {"wavelengths_m": [5e-7, 6e-7], "weights": [0, 0]}}, SpectrumError,
         "all zero"),
        ({"spectrum": Spectrum.lines([150e-9, LAM])}, MaterialError,
         r"150 nm is outside the validity range .*0\.21–3\.71 µm"),
        ({"material": "glass"}, MaterialError, "not known"),
        ({"coherent": True, "spectrum": BAND}, PSFModelError, "monochromatic source"),
    ],
)  # fmt: skip
def test_bad_optics_are_refused_with_the_value_and_the_range(kw, error, message):
    with pytest.raises(error, match=message):
        layer = _doe_layer(**kw)
        layer(_x())
    assert issubclass(error, MixsigError)


def test_a_spectrum_whose_orders_reach_a_channel():
    """The default 16-tile layout at N = 128 leaves 2 px between a channel and the nearest
    higher order at λ₀; a line at 0.96·λ₀ brings it in: refused with the numbers (windows
    model); the default sampling takes a larger DOE; the crosstalk box models the orders."""
    band = Spectrum.lines([0.96 * LAM, LAM])
    n128 = default_sampling(128)  # N = 128
    with pytest.raises(ValueError, match=r"order \(0, -1\) of tile 3.* by 1\.14 px"):
        OpticalConv2d(8, 5, image_size=28, spectrum=band, sampling=n128)
    layer = OpticalConv2d(8, 5, image_size=28, spectrum=band)
    assert layer.sampling.doe_pixels > 128
    boxed = OpticalConv2d(8, 5, image_size=28, spectrum=band, sampling=n128, model_crosstalk=True)
    with pytest.raises(ValueError, match="by 1.14 px"):
        boxed.model_crosstalk = False
    assert boxed.model_crosstalk


# -- synthesis --------------------------------------------------------------------------------


def test_synthesis_fits_the_layers_own_psf_model():
    """`synthesize_doe` of a kernel-space layer fits the PSF that layer will realise (here
    fill factor 0.8 and three lines): the fit's PSF is the realised one."""
    torch.manual_seed(11)
    layer = OpticalConv2d(
        2, 3, image_size=6, sampling=_sampling(16), hardware=IDEAL, signed=False, dtype=F64,
        fill_factor=0.8, spectrum=BAND,
    )  # fmt: skip
    result = layer.synthesize_doe(steps=20, quantized_steps=5, gs_iterations=5)
    torch.testing.assert_close(layer.camera_plane_psf(), result.psf, atol=1e-15, rtol=0)


def test_a_fit_that_knows_the_envelope_realises_the_kernels_better():
    """Four tiles of flat 3×3 kernels near the edge of the window (N = 24, window 48 px, tile
    centres at −19 and 17 px: envelope 0.6 falling ~10 % across a window): fitted through the
    pixelated PSF, the realised (pixelated) windows match the kernels far better than when the
    fit ignores the envelope (measured 0.040 against 0.107)."""
    from mixsig.optics import synthesize_tiles

    layer = OpticalConv2d(4, 3, image_size=8, sampling=_sampling(24), hardware=IDEAL,
                          signed=False, dtype=F64, tile_pitch_px=36)  # fmt: skip
    bank = torch.ones(4, 3, 3, dtype=F64) / 36
    errors = {}
    for name, fit_model in (("pixelated", PSFModel()), ("point", POINT_SAMPLED)):
        fit = synthesize_tiles(bank, layer.layout, layer.sampling, model=fit_model, steps=80,
                               quantized_steps=0, levels=None, seed=0)  # fmt: skip
        windows = layer.layout.extract(realised_psf(fit.phase_rad, layer.sampling))
        scale = (windows * bank).sum() / (windows * windows).sum()
        errors[name] = float((scale * windows - bank).norm() / bank.norm())
    assert errors["pixelated"] < 0.5 * errors["point"], errors
