"""Metrics without per-step host syncs: tensor accumulators, a JSONL log and a progress bar.

Diagnostics stay on the device: :class:`RunningMeans` keeps references to each step's scalars
and sums them in chunks (no device op per step); :func:`to_floats` copies the means to the
host once per log interval (one synchronisation for all metrics).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import torch

from .._io import atomic_write_text


class RunningMeans:
    r"""Running means of 0-dim tensors with no device op per :meth:`add`.

    ``add`` only keeps (detached) references; every ``fold_every`` calls, and before a read,
    the pending values are stacked into one ``[n, M]`` tensor (``n`` calls, ``M`` metrics),
    weighted and summed over ``n`` into the running ``[M]`` sum: four kernel launches per
    ``fold_every`` steps instead of two per step, and no host sync (the sums stay on the
    device until :func:`to_floats`). ``add`` accepts a ``weight`` (the number of examples a
    value stands for), so validation averages over examples, not batches:
    ``mean_m = sum_i w_i v_{i,m} / sum_i w_i``.

    Parameters
    ----------
    fold_every : int
        Pending calls kept before they are summed (bounds the tensors held alive).
    """

    def __init__(self, fold_every: int = 64) -> None:
        self.fold_every = fold_every
        self._names: tuple[str, ...] | None = None
        self._sum: torch.Tensor | None = None
        self._pending: list[torch.Tensor] = []
        self._pending_weights: list[float] = []
        self._weight = 0.0

    def add(self, values: dict[str, torch.Tensor], weight: float = 1.0) -> None:
        """Accumulate scalars (no device op, no sync; values that require grad are detached)."""
        names = tuple(values)
        if self._names is None:
            self._names = names
        elif names != self._names:
            raise ValueError(
                f"the diagnostics changed between steps: {list(self._names)} then {list(names)}"
            )
        pending = self._pending
        for value in values.values():
            pending.append(value.detach() if value.requires_grad else value)
        self._pending_weights.append(weight)
        self._weight += weight
        if len(self._pending_weights) >= self.fold_every:
            self._fold()

    def _fold(self) -> None:
        weights = self._pending_weights
        if not weights or self._names is None:
            return
        rows = torch.stack(self._pending).float().view(len(weights), len(self._names))
        if any(w != 1.0 for w in weights):
            rows = rows * torch.tensor(weights, dtype=rows.dtype, device=rows.device).unsqueeze(1)
        total = rows.sum(dim=0)
        self._sum = total if self._sum is None else self._sum + total
        self._pending, self._pending_weights = [], []

    @property
    def empty(self) -> bool:
        return self._weight == 0

    @property
    def weight(self) -> float:
        """Total weight (steps, or examples) accumulated since the last reset."""
        return self._weight

    def stacked(self) -> tuple[list[str], torch.Tensor | None]:
        """Metric names and their means as one ``[M]`` tensor (still on the device)."""
        self._fold()
        if self._sum is None or self._names is None:
            return [], None
        return list(self._names), self._sum / self._weight

    def reset(self) -> None:
        self._names, self._sum = None, None
        self._pending, self._pending_weights = [], []
        self._weight = 0.0


def to_floats(names: list[str], values: torch.Tensor | None) -> dict[str, float]:
    """One host transfer of a stacked metric tensor into a dict of floats."""
    if values is None:
        return {}
    return dict(zip(names, values.tolist()))


def json_safe(value: float) -> float | str:
    """JSON has no NaN/inf: write them as strings (``"nan"``, ``"inf"``)."""
    return value if math.isfinite(value) else str(value)


class MetricsLog:
    """Append-only ``metrics.jsonl``: one JSON object per event (``train``, ``val``, ...).

    Every line holds ``event``, ``step``, ``epoch`` and the metrics of the event.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = None if path is None else Path(path)
        self._handle: TextIO | None = None

    def truncate_after(self, step: int) -> None:
        """Drop events logged after ``step`` (a resumed run logs them again)."""
        if self.path is None or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            if isinstance(event, dict) and int(event.get("step", 0)) <= step:
                kept.append(line)
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def write(self, event: str, step: int, epoch: int, metrics: dict[str, Any]) -> None:
        if self.path is None:
            return
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        record: dict[str, Any] = {"event": event, "step": step, "epoch": epoch}
        for name, value in metrics.items():
            record[name] = json_safe(value) if isinstance(value, float) else value
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a ``metrics.jsonl`` back (lines that do not parse are skipped)."""
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


class Progress:
    """A tqdm bar (or nothing) advanced per step; its text is refreshed at log intervals only."""

    def __init__(self, enabled: bool | None, total: int | None, initial: int) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bar: Any = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm ships with the train extra
            return
        self._bar = tqdm(
            total=total, initial=initial, desc="train", dynamic_ncols=True, file=sys.stderr
        )

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def show(self, metrics: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
