"""Parameter sweeps over training runs, serial or on a Dask cluster: `load_sweep`, `run_sweep`.

Owns the sweep: its spec, the run keys, the layout of a sweep folder and what happens to a run
that is finished, interrupted, killed or failing — one module per idea:

* the spec's schema — `mixsig.config.sweep` (`SweepConfig`, beside the hardware schema; the
  YAML format is documented there);
* `spec` — the spec expanded into validated, keyed runs (`load_sweep`, `expand`, `SweepRun`);
* `keys` — `run_key`, the hash that names a run's folder and task;
* `execution` — `run_sweep`, its inline and Dask executors and `SweepFailed` (semantics and
  schedulers are documented there);
* `tasks` — the functions a worker runs (Dask imports them by this module path);
* `table` — the tidy table (`collect`, `write_table`, `TABLE_COLUMNS`).

**Layout** of the output folder::

    sweep.json         the expanded list (key, tag, labels, config), written atomically first
    pretrained/<pk>/   the shared float pre-training, one per distinct `pretrain_key`
    runs/<key>/        one run_training folder: checkpoint/, metrics.csv, results.json,
                       config.json, sweep.log (what the run said, one block per attempt)
    results.csv        the tidy table, one row per (run, sigma_test) (`TABLE_COLUMNS`, then the
                       extra label columns), rewritten atomically as runs finish;
    results.parquet    the same, when pyarrow is importable

Every name below (the private ones too) stays importable from ``mixsig.experiments.sweep``.
"""

from mixsig.config.sweep import RESERVED as RESERVED
from mixsig.config.sweep import SweepConfig
from mixsig.experiments.sweep.execution import SweepFailed as SweepFailed
from mixsig.experiments.sweep.execution import _dask as _dask
from mixsig.experiments.sweep.execution import _describe as _describe
from mixsig.experiments.sweep.execution import _inline as _inline
from mixsig.experiments.sweep.execution import _run_name as _run_name
from mixsig.experiments.sweep.execution import run_sweep
from mixsig.experiments.sweep.keys import SweepRun, on_device, run_key
from mixsig.experiments.sweep.spec import _check_entry as _check_entry
from mixsig.experiments.sweep.spec import _load_base as _load_base
from mixsig.experiments.sweep.spec import _merge as _merge
from mixsig.experiments.sweep.spec import _set_path as _set_path
from mixsig.experiments.sweep.spec import expand, load_sweep
from mixsig.experiments.sweep.table import LABEL_COLUMNS as LABEL_COLUMNS
from mixsig.experiments.sweep.table import TABLE_COLUMNS as TABLE_COLUMNS
from mixsig.experiments.sweep.table import _columns as _columns
from mixsig.experiments.sweep.table import _derived_distortion as _derived_distortion
from mixsig.experiments.sweep.table import collect, runs_of, write_table
from mixsig.experiments.sweep.tasks import _prepare_worker as _prepare_worker
from mixsig.experiments.sweep.tasks import _pretrain_task as _pretrain_task
from mixsig.experiments.sweep.tasks import _run_task as _run_task

__all__ = [
    "SweepConfig",
    "SweepRun",
    "collect",
    "expand",
    "load_sweep",
    "on_device",
    "run_key",
    "run_sweep",
    "runs_of",
    "write_table",
]
