"""The calibration fits: measurements in, mixsig hardware parameters (with uncertainties) out.

Owns the estimators of `mixsig.calib`. Each ``fit_*`` function takes NumPy arrays (frames in
camera codes, DN, or already reduced data) and returns a small dataclass holding the fitted
parameters, the residuals of the fit (``residual_rms``, ``residual_max``: root mean square and
largest absolute residual, in the units stated per fit), the uncertainty of every parameter
(``*_stderr``; ``confidence`` says how it was obtained: from the least-squares covariance or
from a bootstrap), ``parameters()`` (rows for the report) and ``to_config()`` (the matching
piece of `mixsig.config.HardwareConfig`).

Units and the mapping DN → mixsig signal
----------------------------------------
The camera is the ADC of a mixed-signal layer. mixsig's signal is the dark-subtracted camera
output divided by the camera's full scale:

    x = (DN − dark_dn) / full_scale_dn          (x = 1 is full scale)

where ``dark_dn`` is the mean dark level (DN) and ``full_scale_dn`` the usable signal range
above it (DN): the full well in DN when the photon transfer curve reaches it, else the largest
code minus the dark level (see `mixsig.calib.report`). With the ADC range ``[0, 1]`` of b bits,
one LSB is ``Δ = 1/(2^b − 1)`` in signal units, i.e. ``full_scale_dn/(2^b − 1)`` DN.

1. Transfer curve (`fit_gamma`, `fit_polynomial`, `fit_lut`) from an exposure series (known
   input levels L, mean DN per level). Response ``v = (mean_dn − dark_dn)/full_scale_dn``;
   normalised input ``u = L / full_scale_level``, where ``full_scale_level`` is the input level
   whose ideal response is full scale: given by the user, or estimated as the level at which
   the fitted curve reaches ``v = 1`` (so ``f(1) = 1``). The fitted f is mixsig's transfer
   curve on ``u = x/full_scale`` (`mixsig.signal.distortion.transfer`). Residuals in fractions
   of full scale. Levels with ``v >= saturation`` (default 0.98) are left out of the fits.
2. Fixed pattern (`fit_fixed_pattern`) from flat fields and dark frames: per-pixel gain
   ``g = (flat − dark)/mean(flat − dark) − 1`` (PRNU) and offset ``dsnu_dn = dark_map −
   mean(dark_map)`` (DSNU). In mixsig, `GainOffset` computes ``y = x·(1 + g) + o·full_scale``
   with ``o = dsnu_dn / full_scale_dn``: exactly the camera's ``DN = dark_dn + dsnu_dn +
   S·(1 + g)`` for an ideal signal S (DN) written in signal units.
3. Photon transfer curve (`photon_transfer`, `fit_ptc`): ``var_dn = mean_dn/K + σ_read_dn²``
   (+ 1/12 DN² of the camera's own rounding, removed), with K the conversion gain in e⁻/DN.
   In mixsig units (`PTCFit.to_config`): ``shot_electrons_per_unit = K·full_scale_dn`` (a
   signal x holds x·K·full_scale_dn electrons), read noise ``σ_read_dn/full_scale_dn`` in
   signal units = ``σ_read_dn·(2^b − 1)/full_scale_dn`` LSB of a b-bit ADC, given either as
   ``sigma_lsb`` (default) or as the fixed ``floor_std`` (then sigma_lsb = 0). A nonlinear
   camera (transfer curve f, item 1, applied to its photo-electrons) has
   ``var_dn = f′(x)²·full_scale_dn·x/K + σ_read_dn²`` at ``x = f⁻¹(mean_dn/full_scale_dn)``:
   ``fit_ptc(..., transfer=f)`` fits that, so K counts electrons per DN of the *linear* signal,
   the K that mixsig's chain (shot noise before the transfer curve) needs.
4. Crosstalk (`fit_crosstalk`) from impulse frames: the mean normalised impulse response
   around each peak (sum 1) is the kernel k of `Crosstalk` (a true convolution, so the
   response is k itself, unflipped); its strength s is the least-squares fit of the 3×3
   default kernel (centre 1 − s, four neighbours s/4).
5. Misregistration (`fit_misregistration`) between an intended and a recorded tile, in the
   convention of `mixsig.signal.distortion.Misregistration`:
   ``recorded(p) = a·intended((p − c − shift)/s + c) + b``, c the image centre, shift
   ``(dy, dx)`` in pixels (+dy down the rows, +dx along the columns), s the magnification.
6. Nonlinear cameras: the linear domain. mixsig's chain applies misregistration, crosstalk
   and the fixed pattern to the *linear* signal s, before the transfer curve f (item 1):
   ``DN = dark_dn + full_scale_dn·f(s)`` with ``s = x·(1 + g) + o``. So with a fitted f
   (``transfer=``, e.g. a `GammaFit`'s ``predict``, and ``full_scale_dn``) `fit_fixed_pattern`
   and `fit_crosstalk` fit in the linear domain: every measured value is mapped through
   `linearise`, ``L(DN) = full_scale_dn·f⁻¹((DN − dark_dn)/full_scale_dn)`` (DN of the
   linear signal: what a linear camera of the same full scale would read), and `linear_signal`
   subtracts the dark map there: ``L(DN) − L(dark_map)``. Then ``g`` is the PRNU of the
   linear signal, ``o = f⁻¹(dsnu_dn/full_scale_dn)`` the offset that gives the measured dark
   frame through f (f(o) = dsnu/full_scale), and the crosstalk kernel that of the light.
   Without ``transfer`` L is the identity and everything reduces to items 2 and 4. A
   measured DN value is linearised after averaging over frames where the fit averages (the
   read noise is added after f).

Uncertainties are 1-sigma standard errors. Least-squares covariances are
``σ̂²·(JᵀJ)⁻¹`` with σ̂² the residual variance (they assume independent residuals; with
spatially correlated residuals, as in image registration, they are a lower bound).

One estimator per module, this package re-exporting them: `transfer` (item 1: gamma,
polynomial, monotone LUT, `exposure_response`), `fixed_pattern` (item 2), `ptc` (item 3),
`crosstalk` (item 4), `misregistration` (item 5), `linear_domain` (item 6: `linearise`,
`inverse_transfer`, `linear_signal`); shared by them: `common` (`Param`, residual statistics)
and `least_squares` (Levenberg-Marquardt with the parameters' covariance).
"""

from .common import Param
from .crosstalk import CrosstalkFit, fit_crosstalk
from .fixed_pattern import FixedPatternFit, fit_fixed_pattern
from .linear_domain import Transfer as Transfer
from .linear_domain import inverse_transfer, linear_signal, linearise
from .misregistration import MisregistrationFit, fit_misregistration, warp_bilinear
from .ptc import CAMERA_ROUNDING_DN2 as CAMERA_ROUNDING_DN2
from .ptc import PTCData, PTCFit, fit_ptc, photon_transfer
from .transfer import (
    GammaFit,
    LUTFit,
    PolynomialFit,
    exposure_response,
    fit_gamma,
    fit_lut,
    fit_polynomial,
    isotonic_increasing,
)

__all__ = [
    "CrosstalkFit",
    "FixedPatternFit",
    "GammaFit",
    "LUTFit",
    "MisregistrationFit",
    "PTCData",
    "PTCFit",
    "Param",
    "PolynomialFit",
    "exposure_response",
    "fit_crosstalk",
    "fit_fixed_pattern",
    "fit_gamma",
    "fit_lut",
    "fit_misregistration",
    "fit_polynomial",
    "fit_ptc",
    "inverse_transfer",
    "isotonic_increasing",
    "linear_signal",
    "linearise",
    "photon_transfer",
    "warp_bilinear",
]
