"""Deterministic, differentiable distortions of the analog signal (design notes §2, step 4).

This subpackage owns the distortions D(·) that the analog result of a mixed-signal layer goes
through before noise is added and the ADC digitises it: pointwise transfer curves
(:class:`Gamma`, :class:`Polynomial`, :class:`SoftSaturation`, :class:`MonotoneLUT`),
fixed-pattern gain/offset (:class:`GainOffset`), crosstalk/blur (:class:`Crosstalk`),
sub-pixel misregistration (:class:`Misregistration`) and fabrication mismatch of the weights
(:class:`KernelMismatch`). All derive from :class:`Distortion`: their parameters are buffers
(calibrated device properties, not trained), they share the ``full_scale`` normalisation, and
they can be randomised per batch (``randomize``) with a seeded generator (``seed``).
Noise and the ADC itself live elsewhere in :mod:`mixsig.signal`.
"""

from .base import Distortion
from .crosstalk import Crosstalk
from .fixed_pattern import GainOffset
from .kernel_mismatch import KernelMismatch
from .map_file import MapFileError, read_maps
from .misregistration import Misregistration
from .transfer import Gamma, MonotoneLUT, Polynomial, SoftSaturation

__all__ = [
    "Crosstalk",
    "Distortion",
    "GainOffset",
    "Gamma",
    "KernelMismatch",
    "MapFileError",
    "Misregistration",
    "MonotoneLUT",
    "Polynomial",
    "SoftSaturation",
    "read_maps",
]
