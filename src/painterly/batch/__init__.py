"""Batches of stylisations over folders, globs and manifests, in this process or on
Ray (``painterly batch``)."""

from painterly.batch.engines import Engine, LocalEngine, Outcome, RayEngine, Render
from painterly.batch.plan import BadRow, BatchItem, Row, read_rows
from painterly.batch.run import BatchSummary, run_batch

__all__ = [
    "BadRow",
    "BatchItem",
    "BatchSummary",
    "Engine",
    "LocalEngine",
    "Outcome",
    "RayEngine",
    "Render",
    "Row",
    "read_rows",
    "run_batch",
]
