"""The `mixsig` command line (Typer): argument parsing and messages, nothing else.

The commands live by theme — `runs` (train, eval, compare), `sweeps` (reproduce, sweep,
report), `lab` (calibrate, check-config), `studies` (demo, mismatch, robustness), `data`
(data fetch) — and register with the one `app`; bad input ends every command with one line and
exit status 2 (`mixsig.cli._errors`).
"""

from __future__ import annotations

from mixsig.cli import data, lab, runs, studies, sweeps  # noqa: F401  (registers the commands)
from mixsig.cli.app import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
