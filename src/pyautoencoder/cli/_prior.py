"""``pyautoencoder train-prior RUN``: fit a code prior to a quantized run, so that it samples.

The prior lives beside the run's checkpoints in ``RUN/prior/``: ``model.safetensors`` (its
weights) and ``config.json`` (its constructor arguments, the training options and the
held-out NLL in bits per code). :func:`attach_saved_prior` gives a loaded run its prior back,
so ``pyautoencoder sample`` and ``report`` draw from it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import atomic_write_json
from ._errors import CLIError

if TYPE_CHECKING:  # torch is imported by the command, not by the parser (fast --help)
    from torch import nn

PRIOR_DIR = "prior"
PRIOR_FORMAT = "pyautoencoder.code_prior"


def _say(message: str) -> None:
    print(message, flush=True)


def attach_saved_prior(model: nn.Module, run_dir: Path) -> None:
    """Load ``run_dir/prior`` (when present) into ``model.code_prior``."""
    folder = run_dir / PRIOR_DIR
    config_file = folder / "config.json"
    if not config_file.is_file() or not hasattr(model, "code_prior"):
        return
    import json

    from ..quantized import CodePrior
    from ..training import load_weights

    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if config.get("format") != PRIOR_FORMAT:
            raise ValueError(f"format is {config.get('format')!r}, expected {PRIOR_FORMAT!r}")
        prior = CodePrior(**config["prior"])
    except (ValueError, TypeError, KeyError) as error:
        raise CLIError(f"cannot read {config_file}: {' '.join(str(error).split())}") from error
    load_weights(prior, folder / "model.safetensors")
    model.code_prior = prior.eval()


def prior_summary(run_dir: Path) -> dict[str, str]:
    """The report's line for a run's code prior: its held-out NLL in bits per code."""
    import json

    config_file = run_dir / PRIOR_DIR / "config.json"
    if not config_file.is_file():
        return {}
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        bits = float(config["held_out_bits_per_code"])
        num_codes = int(config["prior"]["num_codes"])
    except (ValueError, TypeError, KeyError):
        return {}
    uniform = math.log2(num_codes)
    return {"code prior, held-out NLL": f"{bits:.3f} bits per code (uniform {uniform:.3f})"}


def add_parser(commands: Any) -> None:
    """The ``train-prior`` subcommand."""
    parser = commands.add_parser(
        "train-prior",
        help="fit a code prior to a quantized run (VQ-VAE), so that it can sample",
        description="Fit an autoregressive prior (a small causal transformer) to the code "
        "indices a trained quantized run assigns to its training data; report its held-out "
        "NLL in bits per code and save it in RUN/prior/. Afterwards 'pyautoencoder sample RUN' "
        "and 'pyautoencoder report RUN' show samples from it.",
    )
    parser.add_argument("run", help="run folder of a quantized model (runs/<name>)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs (20)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (128)")
    parser.add_argument("--lr", type=float, default=3e-4, help="Adam step size (3e-4)")
    parser.add_argument("--dim", type=int, default=128, help="transformer width (128)")
    parser.add_argument("--depth", type=int, default=2, help="transformer layers (2)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--accelerator", default="auto", help="cpu, cuda, ... (auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler="_prior:cmd_train_prior")


def cmd_train_prior(args: argparse.Namespace) -> int:
    import torch

    from ..quantized import CodePrior, train_code_prior
    from ..training import save_weights
    from ._data import load_data
    from ._runs import load_run

    run_dir, spec, model, _ = load_run(args.run)
    if not hasattr(model, "code_prior"):
        raise CLIError(
            f"train-prior needs a quantized run (--model vqvae); {run_dir} holds {spec.model!r}"
        )
    for option in ("epochs", "batch_size", "dim", "depth", "heads"):
        if getattr(args, option) < 1:
            raise CLIError(
                f"--{option.replace('_', '-')} must be >= 1, got {getattr(args, option)}"
            )
    if args.dim % args.heads:
        raise CLIError(f"--heads must divide --dim, got --dim {args.dim} and --heads {args.heads}")
    data = load_data(spec.data, spec.data_source)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        index_shape = tuple(model.encode(data.train_x[:1]).indices.shape[1:])  # type: ignore[operator]
    num_codes = int(model.num_codes)  # type: ignore[arg-type]
    prior = CodePrior(num_codes, index_shape, dim=args.dim, depth=args.depth, heads=args.heads)
    prior, result = train_code_prior(
        model,
        data.train_x,
        data.test_x,
        prior=prior,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        accelerator=args.accelerator,
        progress=None if not args.quiet else False,
    )
    bits = float(result.val_metrics["bits_per_code"])
    folder = run_dir / PRIOR_DIR
    folder.mkdir(exist_ok=True)
    save_weights(prior.cpu(), folder / "model.safetensors")
    atomic_write_json(
        folder / "config.json",
        {
            "format": PRIOR_FORMAT,
            "prior": prior.config(),
            "training": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr},
            "held_out_bits_per_code": bits,
            "held_out_examples": len(data.test_x),
        },
    )
    uniform = math.log2(num_codes)
    _say(
        f"code prior over {math.prod(index_shape)} code(s) per example of {num_codes}: held-out "
        f"NLL {bits:.3f} bits per code (uniform: {uniform:.3f}); saved to {folder}"
    )
    _say(f"samples: pyautoencoder sample {run_dir}")
    return 0
