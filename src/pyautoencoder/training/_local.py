"""A run of one process on the CPU without Lightning: :class:`LocalRun`.

Importing Lightning Fabric costs more than importing torch (``python -X importtime``: about
2.5x, mostly ``torch._dynamo`` and Fabric's optional-package probes), and for one process on the
CPU in fp32 Fabric does nothing to the step: its module wrapper, ``backward`` and optimizer
wrapper only pass the calls through, ``all_reduce`` and ``barrier`` are identities and
``autocast`` is a null context. :func:`local_run_for` returns a :class:`LocalRun` with the part
of Fabric's interface the trainer uses for exactly that case, so ``fit()`` starts without the
import; anything else (a GPU, several devices or processes, a cluster environment, another
precision or strategy, Fabric loggers) goes through Fabric as before. A callback that reaches
for another Fabric attribute gets a real ``Fabric`` for the same single CPU device, created on
first use.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

_CLUSTER_VARIABLES = (
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "SLURM_NTASKS",
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "LSB_JOBID",
)
_FP32 = ("32-true", "32", 32)


class LocalRun:
    """Fabric's interface, as far as the trainer uses it, for one process on the CPU in fp32.

    ``world_size`` 1, rank 0, no loggers; :meth:`setup_module` moves the module to the CPU,
    :meth:`backward` is ``loss.backward()``, :meth:`clip_gradients` clips with
    ``torch.nn.utils`` as Fabric's plain precision does, collectives return their input.
    """

    world_size = 1
    global_rank = 0
    local_rank = 0
    node_rank = 0
    is_global_zero = True

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        self.loggers: list[Any] = []
        self._fabric: Any = None

    def launch(self) -> None:
        """Nothing to launch: this process is the only one."""

    def setup_module(self, module: nn.Module) -> nn.Module:
        return module.to(self.device)

    def setup_optimizers(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        return optimizer

    def setup_dataloaders(self, loader: Any) -> Any:
        return loader  # batches are on the CPU already

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def clip_gradients(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        max_norm: float | None = None,
        clip_val: float | None = None,
        norm_type: float = 2.0,
        error_if_nonfinite: bool = True,
    ) -> torch.Tensor | None:
        """Clip by norm (``max_norm``) or by value (``clip_val``), like Fabric's plain precision."""
        parameters: Iterable[torch.Tensor] = module.parameters()
        if max_norm is not None:
            return torch.nn.utils.clip_grad_norm_(
                parameters, max_norm, norm_type=norm_type, error_if_nonfinite=error_if_nonfinite
            )
        if clip_val is not None:
            torch.nn.utils.clip_grad_value_(parameters, clip_val)
        return None

    def all_reduce(self, data: Any, group: Any = None, reduce_op: str = "mean") -> Any:
        return data

    def barrier(self, name: str | None = None) -> None:
        """Nothing to wait for."""

    def log_dict(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """No Fabric loggers in a local run (``metrics.jsonl`` is written by the trainer)."""

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        yield

    def __getattr__(self, name: str) -> Any:
        # Anything else (fabric.print, fabric.save, ...) from a real Fabric on the same device.
        if name.startswith("__") or name == "_fabric":
            raise AttributeError(name)
        if self._fabric is None:
            from ._setup import import_fabric

            self._fabric = import_fabric()(accelerator="cpu", devices=1, precision="32-true")
        return getattr(self._fabric, name)


def local_run_for(config: Any, loggers: list[Any]) -> LocalRun | None:
    """A :class:`LocalRun` when ``config`` asks for one process on the CPU in fp32, else ``None``.

    ``accelerator`` ``"cpu"`` (or ``"auto"`` with neither CUDA nor MPS available), ``devices``
    1 or ``"auto"``, one node, ``strategy="auto"``, fp32, no Fabric loggers and no cluster
    environment variables (``WORLD_SIZE``, ``SLURM_NTASKS`` ...).
    """
    accelerator = config.accelerator
    if accelerator == "auto":
        mps = getattr(torch.backends, "mps", None)
        if torch.cuda.is_available() or (mps is not None and mps.is_available()):
            return None
    elif accelerator != "cpu":
        return None
    if config.devices not in (1, "1", "auto") or config.num_nodes != 1:
        return None
    if config.strategy != "auto" or config.precision not in _FP32 or loggers:
        return None
    if any(name in os.environ for name in _CLUSTER_VARIABLES):
        return None
    return LocalRun()
