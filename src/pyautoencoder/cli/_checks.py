"""Checks the command makes before training, so that a mistake is one line naming what the user
gave (the data, an option), never an error about internal tensors (``mu``, ``x_hat``) or a
Lightning traceback."""

from __future__ import annotations

import sys
import warnings

import torch

from ._data import DataSplit
from ._errors import CLIError
from ._runs import RunSpec, split_options

_BERNOULLI_FAMILY = ("bernoulli", "continuous_bernoulli")


def _range(data: DataSplit) -> tuple[float, float]:
    values = [t for t in (data.train_x, data.test_x) if t.numel()]
    low = min(float(t.min()) for t in values)
    high = max(float(t.max()) for t in values)
    return low, high


def check_data_fits_likelihood(spec: RunSpec, data: DataSplit) -> None:
    """The data's values lie in the support of the run's likelihood (``[0, 1]`` for Bernoulli).

    The likelihood object's own ``check_support`` decides; the message names the data, the
    range found and the two fixes (another ``--likelihood`` or scaling the data).
    """
    model_kwargs, loss_kwargs, _ = split_options(spec)
    name = model_kwargs.get("likelihood", loss_kwargs.get("likelihood"))
    if not isinstance(name, str):
        return
    from .. import _validation
    from ..distributions import get_likelihood

    try:
        likelihood = get_likelihood(name)
    except ValueError as error:
        raise CLIError(f"--likelihood: {' '.join(str(error).split())}") from error
    try:
        with _validation.value_checks(True):
            for tensor in (data.train_x, data.test_x):
                likelihood.check_support(tensor)
    except ValueError as error:
        low, high = _range(data)
        if name.lower() in _BERNOULLI_FAMILY:
            scale = " (0..255 pixels: divide by 255)" if high > 1 and high <= 255 else ""
            raise CLIError(
                f"data {spec.data} holds values in [{low:g}, {high:g}], but --likelihood {name} "
                f"needs values in [0, 1]: use --likelihood gaussian, or scale the data to "
                f"[0, 1]{scale}"
            ) from error
        raise CLIError(
            f"data {spec.data} (values in [{low:g}, {high:g}]) does not fit --likelihood "
            f"{name}: {' '.join(str(error).split())}"
        ) from error


def note_cpu_half_precision(spec: RunSpec) -> None:
    """``--precision 16-mixed`` on CPU: say in one line that it runs as ``bf16-mixed``.

    Fabric swaps float16 autocast (GPU only) for bfloat16 on CPU with a warning of its own;
    the command says it in one line and drops that warning. Unknown devices and precisions
    are refused by Fabric itself (one line, see ``FabricOptionsError``).
    """
    accelerator = str(spec.accelerator).lower()
    mps = getattr(torch.backends, "mps", None)
    gpu = torch.cuda.is_available() or bool(mps is not None and mps.is_available())
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not gpu)
    if on_cpu and str(spec.precision) in ("16-mixed", "16"):
        print(
            f"pyautoencoder: note: --precision {spec.precision} needs a GPU; on CPU it runs as "
            "bf16-mixed (bfloat16 autocast)",
            file=sys.stderr,
        )
        warnings.filterwarnings("ignore", message=r".*AMP with fp16 is not supported on CPU.*")


def non_finite_data_error(spec: RunSpec, data: DataSplit, error: ValueError) -> CLIError:
    """The model's first steps produced NaN/inf from fresh weights: the data's scale is at fault.

    Value checks run on the first training batches only, before any update could have made
    the weights diverge, so a "must be finite" error there comes from the inputs.
    """
    low, high = _range(data)
    return CLIError(
        f"training on data {spec.data} produced non-finite values in the first step (its "
        f"values lie in [{low:.3g}, {high:.3g}]): scale the data to about [-1, 1] or [0, 1] "
        "(e.g. standardise each feature) and train again"
    )
