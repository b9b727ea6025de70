"""Metrics without per-step host syncs: tensor accumulators, a JSONL log and a progress bar.

Diagnostics stay on the device as running sums; :meth:`RunningMeans.read` stacks them and
copies them to the host once per log interval (one synchronisation for all metrics).
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
    """Running sums of 0-dim tensors, averaged and read in one host transfer.

    The values of one call are stacked into one ``[M]`` tensor and added in one op (two
    kernel launches per step whatever the number of diagnostics). ``add`` accepts a
    ``weight`` (the number of examples a value stands for), so validation averages over
    examples, not batches.
    """

    def __init__(self) -> None:
        self._names: tuple[str, ...] = ()
        self._sum: torch.Tensor | None = None
        self._weight = 0.0

    def add(self, values: dict[str, torch.Tensor], weight: float = 1.0) -> None:
        """Accumulate detached scalars (no sync)."""
        names = tuple(values)
        stacked = torch.stack([v.detach().float() for v in values.values()])
        if weight != 1.0:
            stacked = stacked * weight
        if self._sum is None:
            self._names, self._sum = names, stacked
        elif names == self._names:
            self._sum = self._sum + stacked
        else:
            raise ValueError(
                f"the diagnostics changed between steps: {list(self._names)} then {list(names)}"
            )
        self._weight += weight

    @property
    def empty(self) -> bool:
        return self._weight == 0

    @property
    def weight(self) -> float:
        """Total weight (steps, or examples) accumulated since the last reset."""
        return self._weight

    def stacked(self) -> tuple[list[str], torch.Tensor | None]:
        """Metric names and their means as one ``[M]`` tensor (still on the device)."""
        if self._sum is None:
            return [], None
        return list(self._names), self._sum / self._weight

    def reset(self) -> None:
        self._names, self._sum = (), None
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
