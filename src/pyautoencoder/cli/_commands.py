"""The subcommands: ``demo``, ``train``, ``evaluate``, ``sample``, ``report``."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import atomic_write_bytes, atomic_write_json
from ..training import Trainer, read_metrics
from ._builtin import has_package
from ._checks import check_data_fits_likelihood, non_finite_data_error, note_cpu_half_precision
from ._data import DataSplit, data_source, load_data
from ._defaults import DICTIONARY_EXPANSION, TRAIN_DEFAULTS
from ._errors import CLIError
from ._evaluate import held_out_metrics, metric_notes, metric_rows
from ._options import parse_set
from ._prior import prior_summary
from ._progress import EpochLines
from ._runs import RunSpec, build_model, check_model_name, load_run, split_options, writing

_RUN_NAME_ENV = "PYAUTOENCODER_RUN_NAME"  # shared with the processes Fabric launches


def _say(message: str) -> None:
    print(message, flush=True)


def _model_inputs(spec: RunSpec, x: Any, y: torch.Tensor | None) -> Any:
    """``(x,)``, or ``(x, one_hot(y))`` for models conditioned on the label (CVAE).

    Streamed training data (``shards:<glob>``) is passed on as it is: ``fit()`` reads it.
    """
    if not isinstance(x, torch.Tensor):
        return x
    if spec.condition_dim is None:
        return (x,)
    if y is None:
        raise CLIError(f"model {spec.model!r} needs labels, and data {spec.data!r} has none")
    return (x, torch.nn.functional.one_hot(y.long(), spec.condition_dim).float())


def _needs_condition(model_name: str) -> bool:
    from ..registry import get_model_entry

    forward = get_model_entry(model_name).cls.forward
    import inspect

    required = [
        p
        for p in list(inspect.signature(forward).parameters.values())[1:]
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) > 1


def _new_run_dir(out: str, name: str | None, prefix: str) -> Path:
    name = name or os.environ.get(_RUN_NAME_ENV) or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    os.environ[_RUN_NAME_ENV] = name
    return Path(out) / name


def check_quantizer_spec(spec: str, model: str, latent_dim: int | None) -> str:
    """``--quantizer SPEC``: a spec of :func:`pyautoencoder.quantized.quantizer_from_spec` for a
    model that takes a quantizer, checked by building it (one-line error otherwise)."""
    import inspect

    from ..quantized import quantizer_from_spec
    from ..registry import get_model_entry

    cls = get_model_entry(model).cls
    if "quantizer" not in inspect.signature(cls).parameters:
        raise CLIError(f"--quantizer applies to quantized models such as vqvae, not {model!r}")
    try:
        quantizer_from_spec(spec, 8 if latent_dim is None else latent_dim)
    except (TypeError, ValueError) as error:
        raise CLIError(f"--quantizer: {' '.join(str(error).split())}") from error
    return spec


def _model_options(args: argparse.Namespace, model: str, data: DataSplit) -> dict[str, Any]:
    """``--set`` options, plus the training-set size where the model declares it needs it."""
    from ..registry import get_model_entry

    options: dict[str, Any] = parse_set(args.set or [], model)
    quantizer = getattr(args, "quantizer", None)
    if quantizer is not None:
        if "quantizer" in options:
            raise CLIError("give the quantizer once: --quantizer SPEC or --set quantizer=SPEC")
        options["quantizer"] = check_quantizer_spec(quantizer, model, args.latent_dim)
    size_arg = get_model_entry(model).dataset_size_arg
    if size_arg is not None and size_arg not in options:
        options[size_arg] = len(data.train_x)
    return options


def _spec_from_args(args: argparse.Namespace, data: DataSplit) -> RunSpec:
    model = check_model_name(args.model)
    labels = data.train_y
    condition_dim = None
    if _needs_condition(model):
        if labels is None:
            raise CLIError(f"model {model!r} needs labels, and data {args.data!r} has none")
        condition_dim = int(labels.max()) + 1
    return RunSpec(
        model=model,
        data=args.data,
        input_shape=list(data.train_x.shape[1:]),
        latent_dim=args.latent_dim,
        latent_channels=getattr(args, "latent_channels", None),
        net=args.net,
        hidden=list(args.hidden),
        likelihood=args.likelihood,
        beta=args.beta,
        posterior=args.posterior,
        condition_dim=condition_dim,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        precision="32-true" if args.precision is None else args.precision,
        devices=1 if args.devices is None else args.devices,
        accelerator="auto" if args.accelerator is None else args.accelerator,
        num_nodes=1 if args.num_nodes is None else args.num_nodes,
        strategy=args.strategy,
        warmup_steps=args.kl_warmup,
        data_source=data_source(),
        net_source="package" if has_package("nets") else "builtin",
        options=_model_options(args, model, data),
    )


def _check_resume_args(args: argparse.Namespace, spec: RunSpec) -> None:
    """``--resume`` keeps the run's model and data; only ``--epochs`` may change."""
    for option in ("model", "data", "latent_dim", "batch_size"):
        given = getattr(args, option, None)
        if given is not None and given != getattr(spec, option):
            raise CLIError(
                f"--resume: the run was trained with --{option.replace('_', '-')} "
                f"{getattr(spec, option)}, got {given}; drop the option or start a new run"
            )
    given_options: dict[str, Any] = dict(parse_set(args.set or [], spec.model))
    if getattr(args, "quantizer", None) is not None:
        given_options["quantizer"] = args.quantizer
    for key, value in given_options.items():
        if key not in spec.options or spec.options[key] != value:
            stored = spec.options.get(key, "its default")
            raise CLIError(
                f"--resume: the run was trained with {key}={stored}, got --set {key}={value}; "
                "drop the option or start a new run"
            )
    if args.epochs is not None:
        spec.epochs = args.epochs
    for option in _FABRIC_OPTIONS:  # where and how to run may change
        if getattr(args, option) is not None:
            setattr(spec, option, getattr(args, option))


_FABRIC_OPTIONS = ("accelerator", "devices", "num_nodes", "strategy", "precision")


def _check_execution(spec: RunSpec) -> None:
    if isinstance(spec.num_nodes, bool) or not isinstance(spec.num_nodes, int):
        raise CLIError(f"--num-nodes must be an int >= 1, got {spec.num_nodes!r}")
    if spec.num_nodes < 1:
        raise CLIError(f"--num-nodes must be >= 1, got {spec.num_nodes}")
    if isinstance(spec.devices, int) and (spec.devices == 0 or spec.devices < -1):
        raise CLIError(f"--devices must be >= 1, -1 (all), auto or indices, got {spec.devices}")


def _strategy(spec: RunSpec) -> str:
    """``--strategy``, or DDP when more than one process is asked for (else Fabric's auto)."""
    if spec.strategy is not None:
        return spec.strategy
    devices = spec.devices
    several = (isinstance(devices, int) and devices > 1) or (
        isinstance(devices, str) and len([d for d in devices.split(",") if d]) > 1
    )
    return "ddp" if several or spec.num_nodes > 1 else "auto"


def _loggers(choice: str) -> Any:
    """``--logger`` as the ``loggers`` option of the trainer."""
    return {"auto": None, "none": []}.get(choice, choice)


def train_run(
    spec: RunSpec,
    run_dir: Path,
    *,
    resume: bool,
    args: argparse.Namespace,
) -> int:
    """Train (or resume) the run, then evaluate it and write its report (rank 0)."""
    from ..training import LinearWarmup

    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    _check_execution(spec)
    note_cpu_half_precision(spec)
    data = load_data(spec.data, spec.data_source)
    check_data_fits_likelihood(spec, data)
    # Seed before the model exists: its layers (lazy ones included, create_model builds them)
    # draw their initial weights from the global RNG, which torch seeds differently in every
    # process. The trainer seeds again (same seed) for the epoch order and sampling noise.
    torch.manual_seed(spec.seed)
    model = build_model(spec)
    _, loss_kwargs, fit_beta = split_options(spec)
    beta: Any = fit_beta
    if spec.warmup_steps > 0 and "beta" in _loss_parameters(model):
        beta = LinearWarmup(spec.warmup_steps, end=1.0 if fit_beta is None else fit_beta)
    spec.save(run_dir)
    trainer = Trainer(
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        lr=spec.lr,
        beta=beta,
        loss_kwargs=loss_kwargs,
        out_dir=run_dir,
        resume=run_dir if resume else None,
        seed=spec.seed,
        accelerator=spec.accelerator,
        devices=spec.devices,
        num_nodes=spec.num_nodes,
        strategy=_strategy(spec),
        precision=spec.precision,
        loggers=_loggers(args.logger),
        log_every_n_steps=args.log_every,
        progress=None if not args.quiet else False,
        scheduler="cosine" if args.cosine else None,
        callbacks=[] if args.quiet else [EpochLines(spec.epochs)],
    )
    train = _model_inputs(spec, data.train_x, data.train_y)
    held_out = _model_inputs(spec, data.test_x, data.test_y)
    try:
        result = trainer.fit(model, train, held_out)
    except ValueError as error:
        if "must be finite" not in str(error):  # a value check on the first batches
            raise
        raise non_finite_data_error(spec, data, error) from error
    if not trainer.fabric.is_global_zero:
        return 0
    model = model.to("cpu").eval()
    _say(f"trained {spec.model} on {spec.data}: {result.steps} steps in {result.wall_time:.1f} s")
    if result.interrupted:
        _say(f"interrupted; checkpoint saved to {result.checkpoint}")
        _say(f"continue with: pyautoencoder train --resume {run_dir}")
        return 130
    metrics = _evaluate_and_store(
        model, spec, data, run_dir, num_samples=args.num_samples, step=f"step {result.steps}"
    )
    if not args.no_report:
        report = _write_report(model, spec, data, run_dir, metrics, num_samples=args.num_samples)
        _say(f"report: {report}")
    return 0


def _loss_parameters(model: nn.Module) -> set[str]:
    import inspect

    return set(inspect.signature(model.compute_loss).parameters)  # type: ignore[arg-type]


def _evaluate_and_store(
    model: nn.Module,
    spec: RunSpec,
    data: DataSplit,
    run_dir: Path,
    *,
    num_samples: int,
    step: str,
) -> dict[str, float]:
    _, loss_kwargs, _ = split_options(spec)
    tensors = _model_inputs(spec, data.test_x, data.test_y)
    diverged = (
        f"run {run_dir} at {step}: the model produced non-finite or degenerate values on the "
        "held-out data"
    )
    hint = "the training diverged; train again with a lower --lr (or --kl-warmup)"
    try:
        metrics = held_out_metrics(model, tensors, loss_kwargs, num_samples=num_samples)
    except ValueError as error:  # a posterior scale of 0/inf/NaN, a non-finite output
        reason = " ".join(str(error).split()).split(", but found invalid values")[0]
        reason = reason.split(" tensor(")[0][:200]
        raise CLIError(f"{diverged} ({reason}); {hint}") from error
    bad = [key for key, value in metrics.items() if not math.isfinite(value)]
    if bad:
        raise CLIError(f"{diverged} ({', '.join(bad)} not finite); {hint}")
    atomic_write_json(run_dir / "evaluation.json", {"num_examples": len(data.test_x), **metrics})
    for label, value in metric_rows(metrics, num_samples=num_samples):
        _say(f"{label}: {value:.3f}")
    return metrics


def _write_report(
    model: nn.Module,
    spec: RunSpec,
    data: DataSplit,
    run_dir: Path,
    metrics: dict[str, float],
    *,
    num_samples: int,
) -> Path:
    from ..report import curves_figure, model_figures, write_report
    from ..report._samplers import fitted_samples_figure
    from ._samplers import saved_samplers

    metrics_file = run_dir / "metrics.jsonl"
    events = read_metrics(metrics_file) if metrics_file.is_file() else []
    figures = [curves_figure(events), *model_figures(model, data.test_x, data.test_y)]
    fitted = saved_samplers(run_dir, model)
    if fitted:
        figures.append(fitted_samples_figure(model, fitted, tuple(data.test_x.shape[1:])))
    steps = max((int(e.get("step", 0)) for e in events), default=0)
    options = "".join(f", {key}={value}" for key, value in spec.options.items())
    summary: dict[str, Any] = {
        "model": f"{spec.model} (latent_dim={spec.latent_dim}, net={spec.net} {spec.hidden}"
        f"{options})",
        "data": f"{spec.data}: {len(data.train_x)} train / {len(data.test_x)} held-out",
        "likelihood": spec.likelihood,
        "optimizer steps": steps,
    }
    rows = metric_rows(metrics, num_samples=num_samples)
    for label, value in rows:
        unit = " nats" if label.endswith(" (nats)") else ""
        summary[label.removesuffix(" (nats)")] = f"{value:.3f}{unit}"
    summary.update(prior_summary(run_dir))
    return write_report(
        run_dir,
        figures,
        summary,
        title=f"{spec.model} on {spec.data}",
        notes=metric_notes(metrics, rows),
    ).path


# ---------------------------------------------------------------------- handlers
def cmd_train(args: argparse.Namespace) -> int:
    if getattr(args, "k", None) is not None:  # --k K is --set k=K
        args.set = [*(args.set or []), f"k={args.k}"]
    if args.resume is not None:
        run_dir = Path(args.resume)
        if not run_dir.is_dir():
            raise CLIError(f"--resume: run folder not found: {run_dir}")
        with writing(run_dir, new=False):
            spec = RunSpec.load(run_dir)
            _check_resume_args(args, spec)
            if _finished(run_dir, spec):
                return 0
            return train_run(spec, run_dir, resume=True, args=args)
    if args.model is None or args.data is None:
        raise CLIError("train needs --model and --data (or --resume RUN)")
    from ..registry import get_model_entry

    model = check_model_name(args.model)
    parse_set(args.set or [], model)  # before loading any data
    dictionary = get_model_entry(model).latent == "dictionary"
    _defaults(args, skip=("latent_dim",) if dictionary else ())
    data = load_data(args.data)
    if args.latent_dim is None:  # a sparse autoencoder's overcomplete dictionary
        args.latent_dim = DICTIONARY_EXPANSION * math.prod(data.train_x.shape[1:])
    spec = _spec_from_args(args, data)
    run_dir = _new_run_dir(args.out, args.name, f"{spec.model}-{data.name.split('.')[0]}")
    with writing(run_dir, new=True):
        return train_run(spec, run_dir, resume=False, args=args)


def _finished(run_dir: Path, spec: RunSpec) -> bool:
    """Whether the run's latest checkpoint has trained all ``spec.epochs`` (then say so).

    A run without a readable checkpoint is not finished: the trainer reports that one.
    """
    from ..training import CheckpointError, find_checkpoint, load_trainer_state
    from ..training._checkpoint import STATE_FILE

    try:
        state = load_trainer_state(find_checkpoint(run_dir) / STATE_FILE)
    except CheckpointError:
        return False
    done = int(state.get("epoch", 0))
    if done < spec.epochs:
        return False
    _say(
        f"nothing to train: {run_dir} has trained {done} epochs ({int(state.get('step', 0))} "
        f"steps) of --epochs {spec.epochs}; give --epochs {done + 1} or more to continue"
    )
    return True


def _defaults(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> None:
    for option, value in TRAIN_DEFAULTS.items():
        if option not in skip and getattr(args, option) is None:
            setattr(args, option, value)


def cmd_demo(args: argparse.Namespace) -> int:
    args.model, args.data = "vae", "digits"
    data = load_data("digits")
    spec = _spec_from_args(args, data)
    run_dir = _new_run_dir(args.out, args.name, "demo")
    _say(f"training a VAE on the bundled digits ({len(data.train_x)} images) into {run_dir}")
    started = time.perf_counter()
    with writing(run_dir, new=True):
        code = train_run(spec, run_dir, resume=False, args=args)
    _say(f"demo finished in {time.perf_counter() - started:.1f} s")
    return code


def _step_name(checkpoint: Path) -> str:
    """``step 60`` for ``step-00000060``, else ``checkpoint <name>``."""
    name = checkpoint.name.split(".old-")[0].lstrip(".")
    if name.startswith("step-") and name[5:].isdigit():
        return f"step {int(name[5:])}"
    return f"checkpoint {name}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    run_dir, spec, model, checkpoint = load_run(args.run)
    _say(f"{spec.model} from {checkpoint}")
    data = load_data(spec.data, spec.data_source)
    metrics = _evaluate_and_store(
        model, spec, data, run_dir, num_samples=args.num_samples, step=_step_name(checkpoint)
    )
    if args.json:
        print(json.dumps(metrics))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..report import _figures, _views

    run_dir, spec, model, _ = load_run(args.run)
    if args.sampler is not None:
        return _sample_fitted(args, run_dir, spec, model)
    if not callable(getattr(model, "sample", None)):
        raise CLIError(
            f"model {spec.model!r} has no prior to sample from; fit a sampler to its codes: "
            f"pyautoencoder sample {args.run} --sampler gmm:10"
        )
    if hasattr(model, "code_prior") and model.code_prior is None:
        raise CLIError(
            f"run {args.run} has no prior over its codes yet; train one with: "
            f"pyautoencoder train-prior {args.run}"
        )
    shape = _views.image_shape(tuple(spec.input_shape))
    if shape is None:
        raise CLIError(f"samples of shape {spec.input_shape} cannot be drawn as images")
    if args.n < 1:
        raise CLIError(f"-n must be >= 1, got {args.n}")
    torch.manual_seed(args.seed)
    drawn, cols, what = _draw_samples(model, spec, args.n, args.label)
    images = _views.to_display(model, drawn)
    png = _figures.grid_png(images.float().reshape(-1, *shape), cols=cols)
    output = run_dir / "samples.png" if args.output is None else Path(args.output)
    atomic_write_bytes(output, png)
    _say(f"wrote {what} to {output}")
    return 0


def _sample_fitted(args: argparse.Namespace, run_dir: Path, spec: RunSpec, model: nn.Module) -> int:
    """``sample --sampler SPEC``: draw from a sampler fitted to the run's training codes."""
    from ..report import _figures, _views
    from ._samplers import fitted_sampler

    shape = _views.image_shape(tuple(spec.input_shape))
    if shape is None:
        raise CLIError(f"samples of shape {spec.input_shape} cannot be drawn as images")
    if args.n < 1:
        raise CLIError(f"-n must be >= 1, got {args.n}")
    data = load_data(spec.data, spec.data_source)
    sampler, done = fitted_sampler(run_dir, model, data.train_x, args.sampler, refit=args.refit)
    _say(done)
    drawn = sampler.sample(args.n, torch.Generator().manual_seed(args.seed))
    images = _views.to_display(model, drawn)
    png = _figures.grid_png(images.float().reshape(-1, *shape), cols=max(1, round(args.n**0.5)))
    output = run_dir / "samples.png" if args.output is None else Path(args.output)
    atomic_write_bytes(output, png)
    _say(f"wrote {args.n} samples from the {args.sampler} sampler to {output}")
    return 0


def _draw_samples(
    model: nn.Module, spec: RunSpec, n: int, label: int | None
) -> tuple[torch.Tensor, int, str]:
    """``(decoder outputs [N, ...], grid columns, description)`` of ``n`` prior draws.

    A conditional model (CVAE) draws under ``--label`` when given, else ``n // C`` per class
    (at least one), one row per class.
    """
    sample: Any = model.sample
    classes = spec.condition_dim
    if classes is None:
        if label is not None:
            raise CLIError(f"--label: model {spec.model!r} is not conditioned on a label")
        return sample(n), max(1, round(n**0.5)), f"{n} samples"
    if label is not None:
        if not 0 <= label < classes:
            raise CLIError(f"--label must be in 0..{classes - 1} for this run, got {label}")
        y = torch.nn.functional.one_hot(torch.tensor([label]), classes).float()
        return sample(n, y)[0], max(1, round(n**0.5)), f"{n} samples of label {label}"
    per_class = max(1, n // classes)
    drawn = sample(per_class, torch.eye(classes))  # [C, per_class, ...]
    what = f"{per_class} samples per label (rows: labels 0..{classes - 1})"
    return drawn.reshape(-1, *drawn.shape[2:]), per_class, what


def cmd_report(args: argparse.Namespace) -> int:
    run_dir, spec, model, checkpoint = load_run(args.run)
    data = load_data(spec.data, spec.data_source)
    metrics = _evaluate_and_store(
        model, spec, data, run_dir, num_samples=args.num_samples, step=_step_name(checkpoint)
    )
    report = _write_report(model, spec, data, run_dir, metrics, num_samples=args.num_samples)
    _say(f"report: {report}")
    return 0
