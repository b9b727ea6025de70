"""Setting a run up: Fabric, batch sources, lazy layers, RNG snapshots and Ctrl-C handling."""

from __future__ import annotations

import contextlib
import functools
import importlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ._batches import BatchSource, InMemoryBatches, LoaderBatches, in_memory_tensors, make_loader
from ._config import TrainerConfig
from ._step import BatchFn


@functools.cache
def fabric_package() -> str:
    """Where Fabric lives: ``"lightning.fabric"`` when the ``lightning`` package is installed,
    else the standalone ``"lightning_fabric"`` (the ``demo`` extra installs only that one).

    ``lightning`` wins when both are there, so strategies, plugins and loggers that a user
    built from ``lightning.fabric`` are the classes Fabric checks them against.
    """
    import importlib.util

    if importlib.util.find_spec("lightning") is not None:
        return "lightning.fabric"
    if importlib.util.find_spec("lightning_fabric") is not None:
        return "lightning_fabric"
    raise ImportError('training needs Lightning Fabric: pip install "pyautoencoder[train]"')


def fabric_module(name: str = "") -> Any:
    """``lightning.fabric[.name]`` or ``lightning_fabric[.name]`` (see :func:`fabric_package`)."""
    return importlib.import_module(".".join(filter(None, (fabric_package(), name))))


class FabricOptionsError(ValueError):
    """Lightning Fabric refused the execution options (accelerator, devices, strategy,
    precision ...); the message names them and gives Fabric's reason in one line."""


def make_fabric(**options: Any) -> Any:
    """``Fabric(**options)``, with a refusal of the options turned into
    :class:`FabricOptionsError` (a missing package stays an ``ImportError``)."""
    fabric_class = import_fabric()
    try:
        return fabric_class(**options)
    except ImportError:
        raise
    except Exception as error:  # ValueError, RuntimeError, MisconfigurationException
        given = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "loggers")
        reason = " ".join(str(error).split())
        reason = reason if len(reason) <= 300 else reason[:297] + "..."
        raise FabricOptionsError(f"Lightning Fabric refused {given}: {reason}") from error


def import_fabric() -> Any:
    """``lightning.fabric.Fabric`` (or ``lightning_fabric.Fabric``), or an ImportError naming
    the extra to install."""
    try:
        return fabric_module().Fabric
    except ImportError as error:
        raise ImportError(
            'training needs Lightning Fabric: pip install "pyautoencoder[train]"'
        ) from error


def tensorboard_installed() -> bool:
    """Whether Fabric's ``TensorBoardLogger`` has a writer: ``tensorboard`` or ``tensorboardX``."""
    import importlib.util

    return any(
        importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorboardX")
    )


def default_loggers(config: TrainerConfig) -> list[Any]:
    """The Fabric loggers of a run (see ``TrainerConfig.loggers``).

    ``None``: TensorBoard under ``out_dir`` when it is set and ``tensorboard``/``tensorboardX``
    is installed, else none; ``False`` or ``[]``: none; a name (``"tensorboard"``, ``"csv"``),
    a Fabric logger, or a list of both: those, names written under ``out_dir``.
    """
    loggers = config.loggers
    if loggers is None:
        if config.out_dir is not None and tensorboard_installed():
            return [_named_logger("tensorboard", config)]
        return []
    if loggers is False:
        return []
    items = list(loggers) if isinstance(loggers, (list, tuple)) else [loggers]
    return [_named_logger(item, config) if isinstance(item, str) else item for item in items]


def _named_logger(name: str, config: TrainerConfig) -> Any:
    root = str(config.out_dir)
    if name == "tensorboard":
        if not tensorboard_installed():
            raise ImportError(
                'loggers="tensorboard" needs the tensorboard or tensorboardX package: '
                "pip install tensorboard (or pip install tensorboardX)"
            )
        return fabric_module("loggers").TensorBoardLogger(root_dir=root, name="tensorboard")
    return fabric_module("loggers").CSVLogger(root_dir=root, name="csv")


def make_batch_source(
    data: object,
    fabric: Any,
    config: TrainerConfig,
    *,
    train: bool,
) -> BatchSource:
    """The fast in-memory source for tensors, a ``DataLoader`` source otherwise.

    Data that streams itself (:class:`pyautoencoder.data.ArrayShards`) declares a
    ``batch_source(batch_size, *, shuffle, seed, drop_last, rank, world_size, device)`` method
    returning a :class:`BatchSource`; it is used as is.
    """
    batch_source = getattr(data, "batch_source", None)
    if callable(batch_source) and not isinstance(data, torch.Tensor):
        source: BatchSource = batch_source(
            config.batch_size,
            shuffle=config.shuffle and train,
            seed=config.seed,
            drop_last=config.drop_last and train,
            rank=fabric.global_rank,
            world_size=fabric.world_size,
            device=fabric.device,
        )
        return source
    tensors = in_memory_tensors(data)
    if tensors is not None:
        return InMemoryBatches(
            [t.to(fabric.device) for t in tensors],
            config.batch_size,
            shuffle=config.shuffle and train,
            seed=config.seed,
            drop_last=config.drop_last and train,
            rank=fabric.global_rank,
            world_size=fabric.world_size,
            even_shards=train,
        )
    loader, generator = make_loader(
        data,
        config.batch_size,
        shuffle=config.shuffle and train,
        drop_last=config.drop_last and train,
        num_workers=config.num_workers,
    )
    return LoaderBatches(
        loader, lambda dl: fabric.setup_dataloaders(dl), generator=generator, seed=config.seed
    )


def has_lazy_parameters(model: nn.Module) -> bool:
    """Whether ``model`` still holds uninitialised lazy parameters or buffers."""
    lazy = nn.parameter.is_lazy
    return any(lazy(p) for p in model.parameters()) or any(lazy(b) for b in model.buffers())


def materialize(model: nn.Module, batch_fn: BatchFn, first_batch: tuple[torch.Tensor, ...]) -> None:
    """Initialise lazy layers with one batch: ``model.build(x)`` when the model has it, else a
    forward pass under ``no_grad`` in eval mode (modes are restored)."""
    x, extra = batch_fn(first_batch)
    build = getattr(model, "build", None)
    if callable(build) and not extra:
        build(x)
        return
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            model(x, *extra)
    finally:
        for module, was_training in modes:
            module.training = was_training


def rng_snapshot(device: torch.device) -> dict[str, Any]:
    """The global RNG states that a training step may use (CPU, and the accelerator's)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@contextlib.contextmanager
def forked_rng(device: torch.device, seed: int) -> Iterator[None]:
    """Run a block with the global RNGs seeded to ``seed``, restoring them afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def interrupt_requests(on_request: Callable[[], None]) -> Iterator[None]:
    """Turn the first Ctrl-C (SIGINT) into ``on_request()``; a second one aborts as usual.

    The training loop checks the request at step boundaries, so an interrupted run never
    checkpoints a half-applied optimizer step. Outside the main thread nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        on_request()
        print(
            "\nInterrupted: finishing the current step, then saving a checkpoint "
            "(press Ctrl-C again to abort at once).",
            file=sys.stderr,
        )
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
