"""Run folders: ``run.json`` (how to rebuild model and data), checkpoints, metrics, report.

Layout of ``runs/<name>/``::

    run.json            model name, latent size, network, likelihood, data spec, options
    metrics.jsonl       one JSON object per logged event (written by the trainer)
    checkpoints/        step-XXXXXXXX/ folders, best/, and the ``latest`` pointer
    report.html         figures inline; figures/<name>.png beside it
    evaluation.json     the last ``pyautoencoder evaluate`` result
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from .. import _schema
from .._io import atomic_write_json, remove_temp_files
from ..registry import get_model_entry, list_models
from ..training import CheckpointError, find_checkpoint, load_weights
from . import _builtin
from . import _defaults as defaults
from ._defaults import TRAIN_DEFAULTS
from ._errors import CLIError, unknown_name

RUN_FILE = "run.json"


@dataclass
class RunSpec:
    """Everything needed to rebuild a run's model and data (stored as ``run.json``)."""

    model: str
    data: str
    input_shape: list[int]
    latent_dim: int = TRAIN_DEFAULTS["latent_dim"]
    latent_channels: int | None = None  # latent maps of this many channels (net resnet)
    net: str = defaults.NET
    hidden: list[int] = field(default_factory=lambda: list(defaults.HIDDEN))
    likelihood: str = defaults.LIKELIHOOD
    beta: float | None = None
    posterior: str | None = None  # None: the model's default (diagonal Gaussian)
    condition_dim: int | None = None
    epochs: int = TRAIN_DEFAULTS["epochs"]
    batch_size: int = TRAIN_DEFAULTS["batch_size"]
    lr: float = defaults.TRAIN_LR
    seed: int = defaults.SEED
    precision: str = "32-true"
    devices: int | str = 1
    accelerator: str = "auto"
    num_nodes: int = 1
    strategy: str | None = None  # None: ddp for more than one device or node, else auto
    warmup_steps: int = 0
    data_source: str = "package"
    net_source: str = "package"
    options: dict[str, Any] = field(default_factory=dict)  # --set key=value, typed

    def save(self, run_dir: Path) -> None:
        if is_launcher():  # processes of ranks > 0 re-run the command: one writer
            atomic_write_json(run_dir / RUN_FILE, asdict(self))

    @classmethod
    def load(cls, run_dir: Path) -> RunSpec:
        path = run_dir / RUN_FILE
        if not path.is_file():
            raise CLIError(f"not a pyautoencoder run: {run_dir} has no {RUN_FILE}")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            _schema.check(values, _schema.dataclass_schema(cls), str(path))
            return cls(**values)
        except _schema.SchemaError as error:
            raise CLIError(str(error)) from error
        except (ValueError, TypeError) as error:  # not JSON, not UTF-8, unknown fields
            raise CLIError(f"cannot read {path}: {' '.join(str(error).split())}") from error


_RANK_VARIABLES = ("LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")


def is_launcher() -> bool:
    """Whether this process writes the run folder: not one of the extra processes that Fabric,
    ``torchrun`` or SLURM start for ranks > 0 (they re-run the command)."""
    return all(os.environ.get(name, "0") == "0" for name in _RANK_VARIABLES)


def _has_checkpoint(run_dir: Path) -> bool:
    checkpoints = run_dir / "checkpoints"
    return checkpoints.is_dir() and any(
        p.name == "latest" or p.name == "best" or p.name.startswith("step-")
        for p in checkpoints.iterdir()
    )


@contextlib.contextmanager
def writing(run_dir: Path, *, new: bool) -> Iterator[None]:
    """Hold the run folder's writer lock (:mod:`pyautoencoder.training._lock`) for the block.

    Taken before anything is written; a second writer gets a one-line
    :class:`~pyautoencoder.training.RunLockedError` naming the holder's PID. A new run that
    fails before its first checkpoint removes the folder it created (no ``run.json``-only
    leftovers). Processes started for ranks > 0 take no lock and write nothing here.
    """
    if not is_launcher():
        yield
        return
    from ..training import _lock

    existed = run_dir.exists()
    _lock.acquire(run_dir)
    try:
        remove_temp_files(run_dir, [RUN_FILE])
        if new and any((run_dir / "checkpoints").glob("step-*")):
            raise CLIError(
                f"run folder {run_dir} already holds a run; continue it with --resume {run_dir} "
                "or pick another --name"
            )
        yield
    except BaseException:
        if new and not existed and not _has_checkpoint(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        _lock.release(run_dir)


def check_model_name(name: str) -> str:
    """The registry name of ``name`` (any case, ``-`` or ``_``), or a did-you-mean error."""
    names = list_models()
    key = name.lower().replace("-", "_")
    if key not in names:
        raise unknown_name("model", name, names)
    return key


def _init_parameters(cls: type) -> set[str]:
    return set(inspect.signature(cls).parameters)


def _loss_parameters(cls: Any) -> set[str]:
    return set(inspect.signature(cls.compute_loss).parameters)


def split_options(spec: RunSpec) -> tuple[dict[str, Any], dict[str, Any], float | None]:
    """Route ``likelihood``/``beta`` to the constructor or to ``compute_loss``.

    Returns ``(model_kwargs, loss_kwargs, fit_beta)``: ``fit_beta`` is passed to the trainer
    when ``compute_loss`` takes ``beta``; otherwise a constructor ``beta`` (beta-TCVAE) gets it.
    The ``--set`` options of the run (``spec.options``) go to the constructor.
    """
    cls = get_model_entry(spec.model).cls
    init, loss = _init_parameters(cls), _loss_parameters(cls)
    model_kwargs: dict[str, Any] = dict(spec.options)
    loss_kwargs: dict[str, Any] = {}
    if "likelihood" in init:
        model_kwargs["likelihood"] = spec.likelihood
    elif "likelihood" in loss:
        loss_kwargs["likelihood"] = spec.likelihood
    if spec.posterior is not None:
        if "posterior" not in init:
            raise CLIError(
                f"--posterior does not apply to model {spec.model!r} (it has no posterior q(z|x))"
            )
        model_kwargs["posterior"] = _check_posterior(spec.posterior, spec.latent_dim)
    if spec.condition_dim is not None and "condition_dim" in init:
        model_kwargs["condition_dim"] = spec.condition_dim
    fit_beta = None
    if spec.beta is not None:
        if "beta" in loss:
            fit_beta = spec.beta
        elif "beta" in init:
            model_kwargs["beta"] = spec.beta
        else:
            raise CLIError(f"--beta does not apply to model {spec.model!r} (it has no KL weight)")
    return model_kwargs, loss_kwargs, fit_beta


def _check_posterior(posterior: str, latent_dim: int) -> str:
    """``posterior`` if it names a registered posterior (``iaf:4``), else a one-line error."""
    from ..distributions import get_posterior

    try:
        get_posterior(posterior, latent_dim)
    except (TypeError, ValueError) as error:
        raise CLIError(f"--posterior {posterior!r}: {' '.join(str(error).split())}") from error
    return posterior


def build_model(spec: RunSpec) -> nn.Module:
    """A fresh model from the run spec: :func:`pyautoencoder.nets.create_model`, or the
    command's own MLPs for runs made without ``pyautoencoder.nets``."""
    model_kwargs, _, _ = split_options(spec)
    if spec.net_source == "builtin":
        if spec.net != "mlp":
            raise CLIError("--net conv needs pyautoencoder.nets (pip install -U pyautoencoder)")
        return _builtin.create_mlp_model(
            spec.model,
            tuple(spec.input_shape),
            spec.latent_dim,
            tuple(spec.hidden),
            **model_kwargs,
        )
    from ..nets import create_model

    options: dict[str, Any] = {"net": spec.net}
    latent_dim: int | None = spec.latent_dim
    if spec.latent_channels is not None:  # latent maps: the shape follows from the networks
        if spec.net != "resnet":
            raise CLIError(f"--latent-channels needs --net resnet, got --net {spec.net}")
        latent_dim = None
        options["latent_channels"] = spec.latent_channels
    if spec.net == "mlp":
        options["hidden"] = tuple(spec.hidden)
    else:
        options["channels"] = tuple(spec.hidden)
    try:
        return create_model(
            spec.model, tuple(spec.input_shape), latent_dim, **options, **model_kwargs
        )
    except (TypeError, ValueError) as error:
        raise CLIError(
            f"cannot build model {spec.model!r} for input {spec.input_shape}: "
            f"{' '.join(str(error).split())}"
        ) from error


def _pointer(run_dir: Path) -> bytes | None:
    try:
        return (run_dir / "checkpoints" / "latest").read_bytes()
    except OSError:
        return None


def _load_latest(run_dir: Path, model: nn.Module, attempts: int = 3) -> Path:
    """Load the latest checkpoint into ``model``; returns its folder.

    Readers take no lock: while a run trains, the checkpoint that ``latest`` named a moment
    ago may be pruned by the trainer's next save before it is read. When reading fails and the
    pointer has moved meanwhile, the newer checkpoint is read instead.
    """
    for attempt in range(attempts):
        before = _pointer(run_dir)
        try:
            checkpoint = find_checkpoint(run_dir)
            load_weights(model, checkpoint / "model.safetensors")
            return checkpoint
        except CheckpointError:
            if attempt == attempts - 1 or _pointer(run_dir) == before:
                raise  # damaged, not a race with the writer
    raise AssertionError("unreachable")  # pragma: no cover


def load_run(run: str | Path) -> tuple[Path, RunSpec, nn.Module, Path]:
    """``(run_dir, spec, model with the latest weights, checkpoint folder)``."""
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise CLIError(f"run folder not found: {run_dir}")
    spec = RunSpec.load(run_dir)
    model = build_model(spec)
    checkpoint = _load_latest(run_dir, model)
    from ._prior import attach_saved_prior

    attach_saved_prior(model, run_dir)  # a quantized run's code prior (train-prior), if any
    model.eval()
    return run_dir, spec, model, checkpoint
