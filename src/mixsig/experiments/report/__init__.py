"""The reproduction report, built from a stored tidy results table without retraining.

Owns `build_report`, `verdict`, `read_table` and `summarise`, one module per stage of the
pipeline: `table` (read, check and summarise the table) → `selection` (the default setting of
the methods comparison) → `verdicts` → `figures` (a subpackage, one module per figure family)
→ `summary_tables` (headline and summary, Markdown) → `sections` (the report cut by data set)
→ `page` (index.html) → `build` (`build_report`, which writes them all).

The input is a tidy CSV with one row per (run, σ_test) — the columns of `REQUIRED_COLUMNS`,
plus the optional ``key``, ``name``, ``equivalent`` (recomputed from ``mean`` and
``noise_free_quantized_accuracy`` when absent) and ``seconds``. `build_report` writes into one
folder:

* ``summary.csv`` / ``summary.md`` — per group of `GROUP_KEYS` (every key but the seed): the
  mean over seeds of the per-seed mean accuracy, the std over seeds (0 with one seed), the mean
  within-seed noise std, the number of seeds (rows), the fewest draws, the mean noise-free
  quantized accuracy, ``equivalent_in_seeds`` ("k/n") and whether the group is equivalent
  (mean over seeds ≥ mean noise-free quantized accuracy − 0.5 pp; `mixsig.eval`);
* ``headline.md`` — the methods at 4 bits (or at every bit depth when there is no 4-bit run),
  one column per σ_test, "mean ± std over seeds";
* ``verdict.json`` — `verdict`: how far P stays equivalent, the fewest bits equivalent at
  0.5 LSB, the paper's claim, distortion costs, the gap P − B1;
* the figures ``accuracy_vs_sigma.png``, ``accuracy_vs_bits.png``, ``sigma_train_heatmap.png``,
  ``accuracy_vs_distortion.png``, ``optical.png`` — each only when the table holds its data (a
  missing one is named in the page with the run that would produce it);
* ``index.html`` — one self-contained page: the figures inline as base64 PNG, inline CSS, no
  script, no external link; every text from the table is HTML-escaped.

Data sets: when the table holds the methods comparison on several data sets (its ``data``
column: the bundled digits, the full MNIST, Fashion-MNIST), the verdict, the headline and the
figures are made once per data set from its rows alone (`sections`): ``verdict.json`` holds
them under ``data_sets`` (its ``sentences`` prefixed ``[<data set>]``), ``headline.md`` one
part per data set, each data set's figures go to ``<data set>/`` and the page opens with their
verdicts side by side. What follows holds within one data set.

Selection: the methods figures, the headline table, the P verdict and the P − B1 gap use the
rows of tag ``methods`` without distortion and not of the optical CNN, at the (model, data)
setting with the most groups (the "default setting"; others stay in the summary table). Where a
method has several σ_train values at a bit depth (P, B3), the figures and tables show the one
equal to the hardware's ``sigma_hw_lsb`` when trained, else the one closest to 0.5 LSB; the
verdict's "equivalent up to" takes the best σ_train. Every file is written atomically.
"""

from .build import build_report
from .figures import DPI, FIGURES
from .table import (
    DIGITAL_REFERENCE_MODEL,
    GROUP_KEYS,
    KNOWN_TAGS,
    METHOD_ORDER,
    NOISE_FREE_METHODS,
    OPTICAL_MODEL,
    OPTIONAL_COLUMNS,
    REFERENCE_NOTE,
    REQUIRED_COLUMNS,
    read_table,
    summarise,
)
from .verdicts import verdict

__all__ = [
    "DIGITAL_REFERENCE_MODEL",
    "DPI",
    "FIGURES",
    "GROUP_KEYS",
    "KNOWN_TAGS",
    "METHOD_ORDER",
    "NOISE_FREE_METHODS",
    "OPTICAL_MODEL",
    "OPTIONAL_COLUMNS",
    "REFERENCE_NOTE",
    "REQUIRED_COLUMNS",
    "build_report",
    "read_table",
    "summarise",
    "verdict",
]
