"""A run's metrics log: ``metrics.csv`` (and TensorBoard when it is installed).

Owns `MetricsLog`: one row per training step (phase, epoch, global step, loss, learning rate,
training noise). On a resume the log is truncated to the rows up to the checkpoint's step
(those were flushed before that checkpoint was written), so a resumed run's log is the
uninterrupted run's.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from mixsig.train.run_folder import METRICS, METRICS_FIELDS, RunFolderError, is_metrics_log


class MetricsLog:
    """metrics.csv (truncated to the checkpoint's step on resume) and optional TensorBoard."""

    FIELDS = METRICS_FIELDS

    def __init__(self, out: Path, keep_until: int | None) -> None:
        self.path = out / METRICS
        rows = [] if keep_until is None else self._rows_until(keep_until)
        self.fh = open(self.path, "w", newline="")  # noqa: SIM115 - closed in close()
        self.writer = csv.DictWriter(self.fh, self.FIELDS)
        self.writer.writeheader()
        self.writer.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except Exception:  # noqa: BLE001 - TensorBoard is optional
            self.tb = None

    def _rows_until(self, step: int) -> list[dict]:
        """The rows logged up to ``step`` (flushed before that checkpoint), in order; a last
        line cut by a kill is dropped — its step number may be cut short too."""
        if not self.path.exists():
            return []
        with open(self.path, newline="") as fh:
            lines = fh.readlines()
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines.pop()
        rows = []
        for r in csv.DictReader(lines):
            try:
                if int(r["global_step"]) > step:
                    break
            except (KeyError, TypeError, ValueError):
                raise RunFolderError(f"{self.path}: unreadable row {r}") from None
            rows.append(r)
        return rows

    @staticmethod
    def is_ours(path: Path) -> bool:
        """Whether ``path`` is a run's metrics log (`mixsig.train.run_folder.is_metrics_log`)."""
        return is_metrics_log(path)

    def log(self, **row) -> None:
        self.writer.writerow(row)
        if self.tb is not None:
            self.tb.add_scalar(f"{row['phase']}/loss", row["loss"], row["global_step"])

    def flush(self) -> None:
        """Every row logged so far is on disk (called before each checkpoint, so a resumed
        run finds exactly the rows up to its checkpoint)."""
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()
        if self.tb is not None:
            self.tb.close()


class NoMetrics:
    """The metrics log of a process that writes none (a rank other than 0 of a data-parallel
    run): `MetricsLog`'s methods, doing nothing."""

    def log(self, **row) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


__all__ = ["MetricsLog", "NoMetrics"]
