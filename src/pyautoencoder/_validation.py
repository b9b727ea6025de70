"""Argument and value validation shared by every model and loss.

Two kinds of checks exist:

* **Shape, type and argument checks** read only Python values and tensor metadata. They cost
  nothing on any device and are always on.
* **Value checks** read tensor *values* (NaN/inf, a likelihood's support, ``beta`` given as a
  tensor). On a GPU each one is a host synchronisation, so they can be switched off, in the
  spirit of ``torch.distributions.Distribution.set_default_validate_args``:

  >>> import pyautoencoder
  >>> pyautoencoder.set_value_checks(False)       # globally
  >>> with pyautoencoder.value_checks(False):     # or for a block
  ...     pass

Value checks are skipped automatically while ``torch.compile`` traces, so compiled models and
losses have no graph break. Every check gathers its conditions into one tensor and reads it
once, so a checked call costs one synchronisation, not one per tensor.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator

import torch

_VALUE_CHECKS_ENABLED = True


def set_value_checks(enabled: bool) -> None:
    """Turn value checks (NaN/inf, likelihood support) on or off globally.

    Parameters
    ----------
    enabled : bool
        ``True`` (the default state) validates tensor values at every public entry point;
        ``False`` skips those checks and so avoids a host synchronisation per call.
    """
    global _VALUE_CHECKS_ENABLED
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _VALUE_CHECKS_ENABLED = enabled


def value_checks_enabled() -> bool:
    """Return whether value checks run (``False`` while ``torch.compile`` traces)."""
    if not _VALUE_CHECKS_ENABLED:
        return False
    return not torch.compiler.is_compiling()


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Context manager that sets value checks for a block and restores the previous state."""
    global _VALUE_CHECKS_ENABLED
    previous = _VALUE_CHECKS_ENABLED
    set_value_checks(enabled)
    try:
        yield
    finally:
        _VALUE_CHECKS_ENABLED = previous


def check_all_finite(**tensors: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the first tensor that holds NaN or inf.

    Reads the values once (one host sync) when they are finite and value checks are enabled;
    otherwise free.
    """
    if not value_checks_enabled() or not tensors:
        return
    # A finite sum proves every element finite (inf and NaN propagate): one pass per tensor.
    # Only when a sum is not finite (bad values, or an overflow) are the elements tested.
    sums_finite = torch.stack([torch.isfinite(t.sum()) for t in tensors.values()])
    if bool(sums_finite.all()):
        return
    flags = torch.stack([torch.isfinite(t).all() for t in tensors.values()])
    if bool(flags.all()):
        return
    for (name, tensor), ok in zip(tensors.items(), flags.tolist()):
        if not ok:
            n_nan = int(torch.isnan(tensor).sum())
            n_inf = int(torch.isinf(tensor).sum())
            raise ValueError(
                f"{name} must be finite, got {n_nan} NaN and {n_inf} inf value(s) in a tensor of "
                f"shape {tuple(tensor.shape)} (turn value checks off with "
                "pyautoencoder.set_value_checks(False) only once inputs are known to be clean)"
            )


def check_in_closed_interval(name: str, tensor: torch.Tensor, low: float, high: float) -> None:
    """Raise ``ValueError`` if any value of ``tensor`` lies outside ``[low, high]``."""
    if not value_checks_enabled() or tensor.numel() == 0:
        return
    # One pass in the common case; NaN makes the bounds NaN and falls through to the exact
    # test, which (as before) reports only values outside the interval, never NaN.
    lowest, highest = torch.aminmax(tensor)
    if bool((lowest >= low) & (highest <= high)):
        return
    outside = (tensor < low) | (tensor > high)
    if bool(outside.any()):
        count = int(outside.sum())
        lo, hi = float(tensor.min()), float(tensor.max())
        raise ValueError(
            f"{name} must lie in [{low:g}, {high:g}], got {count} value(s) outside "
            f"(min {lo:g}, max {hi:g})"
        )


def check_num_samples(value: object, name: str = "S") -> int:
    """Validate a number of Monte Carlo samples: a Python int (not bool) that is >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_positive_int(value: object, name: str) -> int:
    """Validate a size argument such as ``latent_dim``: a Python int (not bool) that is > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_weight(value: object, name: str = "beta") -> float | torch.Tensor:
    """Validate a non-negative, finite loss weight such as ``beta``.

    Python numbers are checked for free. A 0-dim tensor is accepted too (schedules under
    ``torch.compile`` pass tensors to avoid recompiling); its value is checked only when value
    checks are enabled.
    """
    if isinstance(value, torch.Tensor):
        if value.dim() != 0:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        if value_checks_enabled() and not bool(torch.isfinite(value) & (value >= 0)):
            raise ValueError(f"{name} must be finite and >= 0, got {float(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return float(value)


def check_module(value: object, name: str) -> None:
    """Raise ``TypeError`` unless ``value`` is an ``nn.Module``."""
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")


def check_tensor(value: object, name: str) -> torch.Tensor:
    """Raise ``TypeError`` unless ``value`` is a ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(value: torch.Tensor, name: str) -> None:
    """Raise ``TypeError`` unless ``value`` has a floating-point dtype."""
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype, got {value.dtype} "
            f"(convert with {name}.float())"
        )


def check_nonempty_batch(x: torch.Tensor, name: str = "x") -> None:
    """Raise ``ValueError`` for a 0-dim input or an empty batch (``B = 0``)."""
    if x.dim() == 0:
        raise ValueError(f"{name} must have a batch dimension [B, ...], got a 0-dim tensor")
    if x.shape[0] == 0:
        raise ValueError(
            f"{name} must hold at least one example, got an empty batch of shape {tuple(x.shape)}"
        )
