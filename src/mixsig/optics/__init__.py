"""Diffractive optics: the physics core of the optical convolution layer (design §3).

This subpackage owns the scalar wave optics of an incoherent 4f system with a
phase-only DOE in its Fourier plane (Chang et al., Sci. Rep. 8, 12324, 2018) — the grids and
their validity rules (`sampling`), the DOE itself (`doe`: height ↔ phase, wrapping, L-level
quantization, etch-depth error, apertures), propagation (`propagation`: Fraunhofer PSF with
Parseval normalisation, pixel envelope, camera pixels, 4f imaging, angular spectrum) and the
linear FFT convolution of images with PSFs (`fftconv`), and the files for fabrication
(`export`: safetensors, 16-bit TIFF, PNG, multi-level GDSII; import gives back the same PSF),
the synthesis of a mask from target kernels (`synthesis`), the tile geometry on the camera
(`tiles`), the optical convolution as functions — phase → PSF → OTF → channels (`functional`)
— and the layer's default optics and initial kernels (`defaults`); beyond the point-sampled,
monochromatic DOE: how a PSF is modelled (`psf_model`: pixel envelope, source spectrum,
material), the material dispersion (`dispersion`), source spectra (`spectrum`), the far field
at any wavelength on the design camera pixels (`resample`), the summed PSF (`broadband`) and
the higher diffraction orders against the tile layout (`orders`). It holds no learned layers;
the optical conv layer (`mixsig.nn.OpticalConv2d`) is a module over `functional`. Everything is
plain torch (``torch.fft``), batch-friendly and differentiable w.r.t. the DOE phase.

Shared conventions: arrays are [..., y, x]; a centred axis of M samples has the optical axis at
index M // 2; lengths are in metres (names end in ``_m``).
"""

from mixsig.optics.broadband import check_layout_orders, line_psf, model_psf
from mixsig.optics.defaults import default_sampling, gabor_bank
from mixsig.optics.dispersion import (
    FUSED_SILICA,
    Cauchy,
    MaterialError,
    Sellmeier,
    dispersion_scale,
    material_from_spec,
)
from mixsig.optics.doe import (
    blazed_grating,
    circular_aperture,
    fabricated_phase,
    gaussian_aperture,
    height_to_phase,
    phase_ramp,
    phase_scale,
    phase_to_height,
    quantize_phase,
    square_aperture,
    transmission,
    wrap_phase,
)
from mixsig.optics.export import (
    DOEFileError,
    DOEMetadata,
    export_doe,
    import_doe,
    read_gds_levels,
)
from mixsig.optics.fftconv import OTF, fast_size, fft_convolve, fft_convolve_otf, otf
from mixsig.optics.functional import (
    OpticalTransfer,
    optical_conv,
    optical_conv2d,
    optical_transfer,
    psf_operand,
    spread_regularizer,
    synthesize_tiles,
    window_energy,
)
from mixsig.optics.orders import OrderClearance, check_orders, order_clearance
from mixsig.optics.propagation import (
    angular_spectrum,
    asm_transfer,
    camera_psf,
    centered_fft2,
    crop_center,
    four_f,
    fraunhofer_psf,
    pad_center,
    pixel_integrate,
    sinc_envelope,
    sum_pool,
)
from mixsig.optics.psf_model import POINT_SAMPLED, PSFModel, PSFModelError
from mixsig.optics.resample import pixel_operator
from mixsig.optics.sampling import FourierSampling
from mixsig.optics.spectrum import Spectrum, SpectrumError
from mixsig.optics.synthesis import (
    SynthesisResult,
    TileLayout,
    fit_error,
    gerchberg_saxton,
    realised_psf,
    synthesize_doe,
)
from mixsig.optics.tiles import (
    check_fits,
    output_crops,
    overlap_message,
    sensor_index,
    take_box,
    tile_psf,
)

__all__ = [
    "Cauchy",
    "DOEFileError",
    "DOEMetadata",
    "FUSED_SILICA",
    "FourierSampling",
    "MaterialError",
    "OTF",
    "OpticalTransfer",
    "OrderClearance",
    "POINT_SAMPLED",
    "PSFModel",
    "PSFModelError",
    "Sellmeier",
    "Spectrum",
    "SpectrumError",
    "SynthesisResult",
    "TileLayout",
    "angular_spectrum",
    "asm_transfer",
    "blazed_grating",
    "camera_psf",
    "centered_fft2",
    "check_fits",
    "check_layout_orders",
    "check_orders",
    "circular_aperture",
    "crop_center",
    "default_sampling",
    "dispersion_scale",
    "export_doe",
    "fabricated_phase",
    "fast_size",
    "fft_convolve",
    "fft_convolve_otf",
    "fit_error",
    "four_f",
    "fraunhofer_psf",
    "gabor_bank",
    "gaussian_aperture",
    "gerchberg_saxton",
    "height_to_phase",
    "import_doe",
    "line_psf",
    "material_from_spec",
    "model_psf",
    "optical_conv",
    "optical_conv2d",
    "optical_transfer",
    "order_clearance",
    "otf",
    "output_crops",
    "overlap_message",
    "pad_center",
    "phase_ramp",
    "phase_scale",
    "phase_to_height",
    "pixel_operator",
    "pixel_integrate",
    "psf_operand",
    "quantize_phase",
    "read_gds_levels",
    "realised_psf",
    "sensor_index",
    "sinc_envelope",
    "spread_regularizer",
    "square_aperture",
    "sum_pool",
    "synthesize_doe",
    "synthesize_tiles",
    "take_box",
    "tile_psf",
    "transmission",
    "window_energy",
    "wrap_phase",
]
