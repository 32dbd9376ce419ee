"""The sweep spec's schema (pydantic v2): what a user may say in a sweep YAML file.

This module owns the *schema* of a sweep spec, side by side with the hardware schema
(`mixsig.config.hardware`); the run config it overrides is `mixsig.train.config.TrainConfig`.
It expands nothing: `mixsig.experiments.sweep.spec` turns a `SweepConfig` into validated,
keyed runs (that needs `TrainConfig`, a higher layer). Unknown keys are refused.

**Spec** (YAML)::

    name: my-sweep
    base: configs/runs/p_4bit.yaml        # a TrainConfig YAML (relative to the sweep file)
                                          # or an inline mapping
    runs:                                 # override mappings (default [{}]); reserved keys:
      - {tag: methods, method.name: P}    #   tag (a label) and labels (extra table columns)
      - {tag: methods, method.name: B1}
    grid:                                 # dotted path -> values; the product is applied to
      seed: [0, 1, 2]                     # every run entry
      hardware.adc.bits: [3, 4]

Every key of a run entry but the reserved ones (`RESERVED`) and every grid key is a dotted
path into the base run config; how the entries and the grid expand into runs is documented in
`mixsig.experiments.sweep.spec`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: the keys of a run entry that are not overrides: its tag and its labels (table columns)
RESERVED = ("tag", "labels")


class SweepConfig(BaseModel):
    """A sweep file: the base run, the run entries and the grid (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("sweep", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    base: str | dict[str, Any] = Field(description="a TrainConfig YAML path or inline mapping")
    runs: list[dict[str, Any]] = Field(default_factory=lambda: [{}], min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for k, values in v.items():
            if not values:
                raise ValueError(f"grid.{k} is empty: give at least one value")
        return v


__all__ = ["RESERVED", "SweepConfig"]
