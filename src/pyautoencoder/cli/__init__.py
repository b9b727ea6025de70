"""The ``pyautoencoder`` command (also ``python -m pyautoencoder``).

Subcommands: ``demo``, ``train``, ``evaluate``, ``train-prior``, ``sample``, ``report``,
``models``; ``--help`` on each.
User errors (unknown names, missing files, corrupted or incompatible checkpoints) print one
line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import _defaults as defaults
from ._defaults import DEMO_DEFAULTS, DICTIONARY_EXPANSION, TRAIN_DEFAULTS
from ._errors import user_error

__all__ = ["build_parser", "main", "run"]

_EPILOG = "Run 'pyautoencoder <command> --help' for the options of a command."
_MODELS_MARK = "{models}"


_REGISTRATION = re.compile(r"^@register_model\(\s*[\"']([^\"']+)[\"']", re.MULTILINE)


def model_names_in_source() -> list[str]:
    """The names of the package's ``@register_model("name", ...)`` lines, read from its source
    files without importing the model families (and torch), so that ``train --help`` stays as
    fast as the other help; tests check that this equals
    :func:`pyautoencoder.registry.list_models`."""
    package = Path(__file__).resolve().parents[1]
    names = {
        match.group(1).lower().replace("-", "_")
        for path in package.rglob("*.py")
        for match in _REGISTRATION.finditer(path.read_text(encoding="utf-8"))
    }
    return sorted(names)


class _HelpFormatter(argparse.HelpFormatter):
    """Fills in the registered model names, only when help is shown."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text is not None and _MODELS_MARK in text:
            text = text.replace(_MODELS_MARK, ", ".join(model_names_in_source()))
        return text


class _VersionAction(argparse.Action):
    """``--version``: reads the installed version only when asked (``importlib.metadata`` is a
    tenth of a second of every start-up otherwise)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from .. import __version__

        parser.exit(message=f"pyautoencoder {__version__}\n")


def _default(option: str, demo: bool) -> str:
    return str(DEMO_DEFAULTS[option] if demo else TRAIN_DEFAULTS[option])


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2, like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an int >= {minimum}, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def _number(text: str, *, positive: bool) -> float:
    bound = "> 0" if positive else ">= 0"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}") from None
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
    return value


def _positive_float(text: str) -> float:
    """An argparse type: a finite float > 0 (learning rates)."""
    return _number(text, positive=True)


def _nonnegative_float(text: str) -> float:
    """An argparse type: a finite float >= 0 (weights such as beta)."""
    return _number(text, positive=False)


def _devices(text: str) -> int | str:
    """``--devices``: an int (``-1``: all), ``auto``, or indices ``0,1`` (passed to Fabric)."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    if text == "auto" or (
        text.replace(",", "").isdigit() and all(part for part in text.rstrip(",").split(","))
    ):
        return text
    raise argparse.ArgumentTypeError(
        f"expected a count, auto, or device indices such as 0,1; got {text!r}"
    )


def _add_training_options(parser: argparse.ArgumentParser, *, demo: bool) -> None:
    group = parser.add_argument_group("model and training")
    group.add_argument(
        "--latent-dim",
        "--num-latents",
        type=_count(1),
        default=DEMO_DEFAULTS["latent_dim"] if demo else None,
        help=f"latent size D_z ({_default('latent_dim', demo)}); for sparse autoencoders "
        + (
            "the number of latents M"
            if demo
            else f"the number of latents M ({DICTIONARY_EXPANSION} x the input features)"
        ),
    )
    group.add_argument(
        "--net",
        choices=("mlp", "conv", "resnet"),
        default=defaults.NET,
        help=f"networks ({defaults.NET})",
    )
    group.add_argument(
        "--latent-channels",
        type=_count(1),
        default=None,
        help="latent maps of this many channels instead of a flat code (--model vae, "
        "--net resnet; the KL autoencoder of latent diffusion); --latent-dim is then unused",
    )
    group.add_argument(
        "--hidden",
        type=_count(1),
        nargs="+",
        default=list(defaults.HIDDEN),
        help=f"hidden sizes/channels ({' '.join(map(str, defaults.HIDDEN))})",
    )
    group.add_argument(
        "--likelihood",
        default=defaults.LIKELIHOOD,
        help=f"observation model p(x|z) ({defaults.LIKELIHOOD}: data in [0, 1])",
    )
    group.add_argument(
        "--epochs",
        type=_count(1),
        default=DEMO_DEFAULTS["epochs"] if demo else None,
        help=f"passes over the training data ({_default('epochs', demo)})",
    )
    group.add_argument(
        "--batch-size",
        type=_count(1),
        default=DEMO_DEFAULTS["batch_size"] if demo else None,
        help=f"batch size per device ({_default('batch_size', demo)})",
    )
    group.add_argument(
        "--lr",
        type=_positive_float,
        default=DEMO_DEFAULTS["lr"] if demo else defaults.TRAIN_LR,
        help=f"Adam step size ({DEMO_DEFAULTS['lr'] if demo else defaults.TRAIN_LR:g})",
    )
    group.add_argument(
        "--beta", type=_nonnegative_float, default=None, help="KL weight (model default: 1)"
    )
    group.add_argument(
        "--posterior",
        default=None,
        metavar="SPEC",
        help="q(z|x) of VAE-family models: diagonal (default), full, planar:K, radial:K, iaf:K",
    )
    group.add_argument(
        "--kl-warmup",
        type=_count(0),
        default=0,
        metavar="STEPS",
        help="linear KL warm-up steps (0)",
    )
    group.add_argument(
        "--cosine",
        action=argparse.BooleanOptionalAction,
        default=DEMO_DEFAULTS["cosine"] if demo else False,
        help=f"cosine learning-rate decay ({'on' if demo else 'off'})",
    )
    if not demo:
        group.add_argument(
            "--k",
            type=int,
            default=None,
            help="sparse autoencoders: active latents per example (same as --set k=K)",
        )
    group.add_argument(
        "--seed", type=int, default=defaults.SEED, help=f"random seed ({defaults.SEED})"
    )
    group.add_argument(
        "--set",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="a constructor option of the model, checked against its signature (repeatable; "
        "'pyautoencoder models --details NAME' lists them); stored in run.json",
    )
    run = parser.add_argument_group(
        "execution (passed to Lightning Fabric) and output",
        "--accelerator, --devices, --num-nodes, --strategy and --precision go unchanged to "
        "lightning.fabric.Fabric; with --resume, the run's values are used unless given.",
    )
    run.add_argument("--accelerator", default=None, help="cpu, cuda, gpu, mps, tpu or auto (auto)")
    run.add_argument(
        "--threads",
        type=int,
        default=DEMO_DEFAULTS["threads"] if demo else None,
        help="CPU threads for PyTorch ("
        + ("1: the demo's small matrices gain nothing from more" if demo else "PyTorch's default")
        + ")",
    )
    run.add_argument(
        "--devices",
        type=_devices,
        default=None,
        metavar="N|auto|I,J,...",
        help="devices per node: a count (-1: all), auto, or device indices such as 0,1 (1)",
    )
    run.add_argument(
        "--num-nodes",
        type=int,
        default=None,
        metavar="N",
        help="machines to run on; the world size is devices x nodes (1)",
    )
    run.add_argument(
        "--strategy",
        default=None,
        help="ddp, ddp_spawn, fsdp, deepspeed, auto ... (default: ddp for more than one "
        "device or node, else auto)",
    )
    run.add_argument(
        "--precision",
        default=None,
        help="32-true, bf16-mixed, 16-mixed, bf16-true, 64-true ... (32-true)",
    )
    run.add_argument(
        "--logger",
        choices=("auto", "tensorboard", "csv", "none"),
        default="auto",
        help="Fabric logger in the run folder besides metrics.jsonl: tensorboard (needs "
        "tensorboard or tensorboardX), csv, none, or auto: tensorboard when installed (auto)",
    )
    run.add_argument("--out", default="runs", help="folder of runs (runs/)")
    run.add_argument("--name", default=None, help="run name (default: <model>-<data>-<time>)")
    run.add_argument(
        "--log-every",
        type=_count(1),
        default=defaults.LOG_EVERY,
        help=f"log interval in steps ({defaults.LOG_EVERY})",
    )
    run.add_argument(
        "--num-samples",
        type=_count(1),
        default=defaults.NUM_SAMPLES,
        help=f"importance samples for log p(x) ({defaults.NUM_SAMPLES})",
    )
    run.add_argument("--no-report", action="store_true", help="skip report.html")
    run.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the command (exposed for the docs and tests)."""
    parser = _Parser(
        prog="pyautoencoder",
        description="Train, evaluate and inspect autoencoders.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="train a VAE on the bundled digits and write an HTML report",
        description="Train a small VAE on scikit-learn's bundled 8x8 digits (under a minute "
        "on a 2-core CPU) and write runs/<name>/ with the checkpoint, metrics.jsonl and "
        "report.html.",
    )
    _add_training_options(demo, demo=True)
    demo.set_defaults(handler="_commands:cmd_demo")

    train = commands.add_parser(
        "train",
        help="train a model of the registry on a data set",
        description="Train any registered model. --data is digits, mnist:<dir> (IDX files), "
        "shapes, or a .npy/.pt file of examples [N, ...] (.pt loads weights-only; a dict "
        "{'x': ..., 'y': ...} or a tuple (x, y) carries labels).",
        formatter_class=_HelpFormatter,
    )
    train.add_argument(
        "--model", help="registered model: " + _MODELS_MARK + " ('-' or '_' both work)"
    )
    train.add_argument(
        "--data",
        help=(
            "digits | mnist:<dir> | shapes | shards:<glob> | folder:<dir>[:<size>] | <file.npy|.pt>"
        ),
    )
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    train.add_argument(
        "--quantizer",
        metavar="SPEC",
        default=None,
        help="quantizer of a quantized model (--model vqvae): vq[:K] | fsq:8,5,5,5 | lfq:10 | "
        "bsq:10 | rvq:8 | gvq:4 | gumbel[:K] (default: vq, 512 codes)",
    )
    _add_training_options(train, demo=False)
    train.set_defaults(handler="_commands:cmd_train")

    evaluate = commands.add_parser(
        "evaluate",
        help="held-out loss, ELBO, log p(x) and reconstruction error of a run",
        description="Evaluate the latest checkpoint of a run on its held-out split.",
    )
    evaluate.add_argument("run", help="run folder (runs/<name>)")
    evaluate.add_argument(
        "--num-samples", type=_count(1), default=defaults.NUM_SAMPLES, help="importance samples K"
    )
    evaluate.add_argument("--json", action="store_true", help="also print the metrics as JSON")
    evaluate.set_defaults(handler="_commands:cmd_evaluate")

    from ._prior import add_parser as add_train_prior

    add_train_prior(commands)

    sample = commands.add_parser(
        "sample", help="draw samples from the prior as a PNG grid", description="Draw samples."
    )
    sample.add_argument("run", help="run folder (runs/<name>)")
    sample.add_argument("-n", type=_count(1), default=64, help="number of samples (64)")
    sample.add_argument(
        "-o", "--output", default=None, help="PNG file (default: samples.png in the run folder)"
    )
    sample.add_argument("--seed", type=int, default=0, help="random seed (0)")
    sample.add_argument(
        "--label",
        type=_count(0),
        default=None,
        help="conditional models (cvae): draw every sample under this label (default: "
        "n // classes samples per label, one row per label)",
    )
    sample.add_argument(
        "--sampler",
        metavar="SPEC",
        help="draw from a density fitted to the training codes instead of the prior: "
        "normal, gmm:K, maf:K, two-stage, vamp (fitted once, kept in RUN/samplers/)",
    )
    sample.add_argument(
        "--refit", action="store_true", help="fit the --sampler again even if one is saved"
    )
    sample.set_defaults(handler="_commands:cmd_sample")

    report = commands.add_parser(
        "report",
        help="(re)write report.html of a run",
        description="Write runs/<name>/report.html from the latest checkpoint and metrics.",
    )
    report.add_argument("run", help="run folder (runs/<name>)")
    report.add_argument(
        "--num-samples", type=_count(1), default=defaults.NUM_SAMPLES, help="importance samples K"
    )
    report.set_defaults(handler="_commands:cmd_report")

    models = commands.add_parser(
        "models",
        help="list the registered models, or the options of one",
        description="List the registered models; --details NAME prints the constructor "
        "options of one model (types, defaults) that 'train --set KEY=VALUE' accepts.",
    )
    models.add_argument("--details", metavar="NAME", help="the options of model NAME")
    models.set_defaults(handler="_models:cmd_models")
    return parser


def _handler(
    name: str | Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """``"_module:function"`` of this package, imported only for the command that runs it (the
    parser itself imports no torch, so ``--help`` and argument errors answer at once)."""
    if callable(name):
        return name
    module, _, function = name.partition(":")
    handler: Callable[[argparse.Namespace], int]
    handler = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (2 for user errors, one line on stderr).

    Every user-facing error type is turned into its line and exit code in one place,
    :func:`pyautoencoder.cli._errors.user_error`; anything else is a bug and keeps its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(_handler(args.handler)(args))
    except Exception as error:
        handled = user_error(error)  # the one place that turns errors into a line and a code
        if handled is None:
            raise
        code, line = handled
        print(f"pyautoencoder: error: {line}", file=sys.stderr)
        return code


def run() -> None:
    """The ``pyautoencoder`` executable: :func:`main`, then a quick exit.

    Once the command has finished, Python's own first exit steps run -- ``threading``'s exit
    hooks (thread pools are told to stop), a join of the non-daemon threads, the ``atexit``
    handlers (logging, loggers) -- and stdout and stderr are flushed; then the process ends
    with ``os._exit`` instead of tearing the interpreter down object by object. That teardown
    -- garbage-collection passes over the ~400,000 objects that torch and Lightning leave --
    took 0.7 s on an idle 2-core machine and 2-5 s on a busy one after "demo finished". An
    exception that escapes :func:`main` (a bug: user errors are already one line) exits the
    usual way, traceback included; so does everything on a Python without
    ``threading._shutdown``.
    """
    import atexit
    import contextlib
    import os
    import threading

    code = main()
    shutdown = getattr(threading, "_shutdown", None)
    if not callable(shutdown):
        raise SystemExit(code)
    shutdown()  # what the interpreter runs first at exit: thread-pool hooks, thread joins
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a broken pipe
            stream.flush()
    os._exit(code)
