"""Energy per inference of mixed-signal and optical networks, next to an all-digital network
costed with the same model: the operation count (`counts`), its price (`cost`, with the
constants of `mixsig.config.energy.EnergyConfig`) and the Pareto front of accuracy against
energy (`pareto`). The model, its constants and their sources: docs/energy.md."""

from mixsig.config.energy import EnergyConfig
from mixsig.eval.energy.cost import (
    EnergyBreakdown,
    all_digital,
    detected_photons,
    energy_per_inference,
    photon_energy_j,
)
from mixsig.eval.energy.counts import (
    LayerOps,
    count_operations,
    digital_parameters,
    total_macs,
)
from mixsig.eval.energy.pareto import pareto_front

__all__ = [
    "EnergyBreakdown",
    "EnergyConfig",
    "LayerOps",
    "all_digital",
    "count_operations",
    "detected_photons",
    "digital_parameters",
    "energy_per_inference",
    "pareto_front",
    "photon_energy_j",
    "total_macs",
]
