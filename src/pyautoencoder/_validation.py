"""Argument and value validation shared by every model and loss.

Two kinds of checks exist:

* **Shape, type and argument checks** read only Python values and tensor metadata. They cost
  nothing on any device and are always on.
* **Value checks** read tensor *values* (NaN/inf, a likelihood's support, ``beta`` given as a
  tensor). On a GPU each read is a host synchronisation, so they can be switched off, in the
  spirit of ``torch.distributions``' ``validate_args`` (per object) and
  ``Distribution.set_default_validate_args`` (the default):

  >>> import pyautoencoder
  >>> pyautoencoder.set_value_checks(False)       # the default of every model
  >>> with pyautoencoder.value_checks(False):     # the default, for a block
  ...     pass
  >>> model.value_checks = False                  # one model (None: follow the default)

Value checks are skipped while ``torch.compile`` traces, so compiled models and losses have no
graph break.

**One read per call.** A model's ``forward`` and ``compute_loss`` run in a *check scope*
(:class:`ValueCheckScope`, entered by :class:`~pyautoencoder._base.BaseAutoencoder`): the value
checks made inside it are recorded, not read, and settled when the outermost scope ends. The
fast test of all of them is one small reduction per tensor (a sum: a finite sum proves every
element finite; ``aminmax`` for an interval), stacked into one vector and compared with its
bounds in one op, then read once. Only when that test fails do the exact per-argument tests
run, in the order the checks were made, so the errors name the argument exactly as an
immediate check would. A likelihood whose log-density is non-finite whenever ``x`` or
``x_hat`` is (the unit Gaussian, the Bernoulli) vouches for both with its ``[B, S]``
log-likelihood (:func:`vouch_finite`), so the full-size tensors are not summed again. Outside
a scope (a loss function called directly) every check is settled at once, as before.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

_VALUE_CHECKS_ENABLED = True


def set_value_checks(enabled: bool) -> None:
    """Turn value checks (NaN/inf, likelihood support) on or off by default.

    A model's own switch (``model.value_checks = True / False``) takes precedence; models
    whose switch is ``None`` (the default) follow this one.

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


class _Local(threading.local):
    scope: ValueCheckScope | None = None


_LOCAL = _Local()


def value_checks_enabled() -> bool:
    """Return whether value checks run here and now.

    ``False`` while ``torch.compile`` traces; inside a model's call the model's own switch (or
    the enclosing scope's) when it is set, the default of :func:`set_value_checks` otherwise.
    """
    if torch.compiler.is_compiling():
        return False
    scope = _LOCAL.scope
    if scope is not None and scope.enabled is not None:
        return scope.enabled
    return _VALUE_CHECKS_ENABLED


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Context manager that sets the default for a block and restores the previous state."""
    global _VALUE_CHECKS_ENABLED
    previous = _VALUE_CHECKS_ENABLED
    set_value_checks(enabled)
    try:
        yield
    finally:
        _VALUE_CHECKS_ENABLED = previous


# ---------------------------------------------------------------------------- check scopes
_Item = tuple[str, torch.Tensor, float, float]  # (kind, tensor, low, high)


class _PendingChecks:
    """Value checks recorded in a scope: fast items, exact tests in order, vouched tensors."""

    __slots__ = ("exact", "items", "vouched")

    def __init__(self) -> None:
        self.items: list[_Item] = []
        self.exact: list[Callable[[], None]] = []
        self.vouched: list[torch.Tensor] = []

    def settle(self) -> None:
        """Read the fused fast test once; on failure run the exact tests in order."""
        if not self.exact:
            return
        items, exact, vouched = self.items, self.exact, self.vouched
        self.items, self.exact, self.vouched = [], [], []
        if _fast_test_fails(items, vouched):
            for test in exact:
                test()

    def settle_exact(self) -> None:
        """Run every exact test (the error path: cost does not matter, messages do)."""
        exact = self.exact
        self.items, self.exact, self.vouched = [], [], []
        for test in exact:
            test()


class ValueCheckScope:
    """Where value checks are recorded and settled together: one read per outermost scope.

    ``ValueCheckScope(enabled, batch=True)``: ``enabled`` is the scope's switch (``None``:
    inherit the enclosing scope's, or the default). A batching scope records the checks made
    inside it and settles them when it ends (or shares its enclosing batching scope's record,
    so nested calls such as ``super().compute_loss`` add no read); a non-batching scope only
    sets the switch (what :func:`pyautoencoder.training.fit` uses after its first batches,
    instead of flipping the process-wide default). Scopes are per thread. When the block
    raises, the recorded checks run exactly first, so a value error is reported (chained to
    the original one) rather than whatever the bad value caused downstream.
    """

    __slots__ = ("_batch", "_owns", "_parent", "enabled", "pending")

    def __init__(self, enabled: bool | None = None, batch: bool = True) -> None:
        if enabled is not None and not isinstance(enabled, bool):
            raise TypeError(f"enabled must be a bool or None, got {type(enabled).__name__}")
        self.enabled = enabled
        self.pending: _PendingChecks | None = None
        self._batch = batch
        self._owns = False
        self._parent: ValueCheckScope | None = None

    def __enter__(self) -> ValueCheckScope:
        parent = _LOCAL.scope
        self._parent = parent
        if parent is not None and self.enabled is None:
            self.enabled = parent.enabled
        if parent is not None and parent.pending is not None:
            self.pending, self._owns = parent.pending, False  # the enclosing scope settles
        elif self._batch:
            self.pending, self._owns = _PendingChecks(), True
        _LOCAL.scope = self
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        _LOCAL.scope = self._parent
        if not self._owns or self.pending is None:
            return
        pending, self.pending = self.pending, None
        if exc is None:
            pending.settle()
        elif isinstance(exc, Exception):
            try:
                pending.settle_exact()
            except ValueError as value_error:
                raise value_error from exc


def enter_scope(enabled: bool | None, batch: bool = True) -> ValueCheckScope | None:
    """Enter a :class:`ValueCheckScope` (``None`` while compiling); pair with :func:`exit_scope`.

    The function form keeps the model wrappers free of a ``with`` block that ``torch.compile``
    would have to trace.
    """
    if torch.compiler.is_compiling():
        return None
    if enabled is False:  # checks off: nothing is recorded, only the switch is set
        return _SwitchedOffScope(_LOCAL.scope)
    scope = ValueCheckScope(enabled, batch)
    scope.__enter__()
    return scope


class _SwitchedOffScope(ValueCheckScope):
    """A scope with value checks off: records nothing, so it only swaps the thread's scope.

    What :func:`enter_scope` gives a model whose switch is ``False`` (the training step of
    ``model.value_checks = False``): entering and leaving cost two attribute writes.
    """

    __slots__ = ()

    def __init__(self, parent: ValueCheckScope | None) -> None:
        self.enabled = False
        self.pending = None
        self._batch = False
        self._owns = False
        self._parent = parent
        _LOCAL.scope = self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        _LOCAL.scope = self._parent


def exit_scope(scope: ValueCheckScope | None, error: BaseException | None = None) -> None:
    """Leave ``scope`` (settling its checks when it owns them); see :func:`enter_scope`."""
    if scope is not None:
        scope.__exit__(None if error is None else type(error), error, None)


def _pending() -> _PendingChecks | None:
    scope = _LOCAL.scope
    return None if scope is None else scope.pending


def settle_pending_checks() -> None:
    """Settle the checks recorded so far in this thread's scope (before a value is read)."""
    pending = _pending()
    if pending is not None:
        pending.settle()


def _record(items: Sequence[_Item], exact: Callable[[], None]) -> None:
    """Record a value check in the current scope, or settle it at once outside any scope."""
    pending = _pending()
    if pending is None:
        pending = _PendingChecks()
        pending.items.extend(items)
        pending.exact.append(exact)
        pending.settle()
        return
    pending.items.extend(items)
    pending.exact.append(exact)


def vouch_finite(witness: torch.Tensor, *covered: torch.Tensor) -> None:
    """Declare that ``covered`` are all finite if ``witness`` is (a cheaper fast test).

    For a computation that is non-finite wherever an input is, such as the unit-Gaussian and
    Bernoulli log-likelihoods summed over features: ``witness`` ``[B, S]`` replaces the sums of
    ``x`` and ``x_hat`` ``[B, S, ...]`` in the fused test. Does nothing outside a scope or
    when value checks are off.
    """
    scope = _LOCAL.scope  # no scope, or one that records nothing (checks off): nothing to do
    pending = None if scope is None else scope.pending
    if pending is None or not value_checks_enabled():
        return
    pending.items.append(("finite", witness, 0.0, 0.0))
    pending.vouched.extend(covered)


_BOUNDS: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] = {}


def _bounds(
    dtype: torch.dtype, device: torch.device, lows: tuple[float, ...], highs: tuple[float, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    key = (dtype, device, lows, highs)
    cached = _BOUNDS.get(key)
    if cached is None:
        if len(_BOUNDS) > 256:
            _BOUNDS.clear()
        # An infinite bound stands for the largest finite value: inf itself must fail.
        big = torch.finfo(dtype).max
        cached = (
            torch.tensor([max(v, -big) for v in lows], dtype=dtype, device=device),
            torch.tensor([min(v, big) for v in highs], dtype=dtype, device=device),
        )
        _BOUNDS[key] = cached
    return cached


def _fast_test_fails(items: list[_Item], vouched: list[torch.Tensor]) -> bool:
    """One fused test of every recorded item (one host read); ``True`` if inconclusive.

    Each item contributes one or two numbers: a 0-dim tensor itself, the sum of a larger one
    (finite iff every element is, or inconclusive when it overflows), or ``aminmax`` for an
    interval. Per dtype and device the numbers are stacked and tested against their bounds
    with ``clamp(stacked, low, high) == stacked`` (NaN and out-of-bound values fail, and an
    infinite bound stands for the dtype's largest finite value), or with ``isfinite`` alone
    when no item has a finite bound.
    """
    # Tensors proven finite by a witness, or by an interval with finite ends.
    proven = {id(t) for t in vouched}
    for kind, tensor, low, high in items:
        if kind == "range" and math.isfinite(low + high):
            proven.add(id(tensor))
    groups: dict[tuple[torch.dtype, torch.device], _Group] = {}
    with torch.no_grad():
        for kind, tensor, low, high in items:
            values: tuple[torch.Tensor, ...]
            bounds: tuple[tuple[float, float], ...]
            if kind == "finite":
                if id(tensor) in proven:
                    continue
                if tensor.dim() == 0:
                    values = (tensor,)
                elif tensor.numel() == 0:
                    continue
                else:
                    values = (_distinct_elements(tensor).sum(),)
                bounds = ((-math.inf, math.inf),)
            elif kind == "range":  # (min, max): min >= low, max <= high
                if tensor.numel() == 0:
                    continue
                values = tuple(torch.aminmax(_distinct_elements(tensor)))
                bounds = ((low, math.inf), (-math.inf, high))
            else:  # "scalar": a 0-dim tensor itself, within [low, high]
                values = (tensor.reshape(()),)
                bounds = ((low, high),)
            if not tensor.is_floating_point():
                values = tuple(v.double() for v in values)
            key = (values[0].dtype, values[0].device)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group()
            group.values.extend(values)
            for low_i, high_i in bounds:
                group.lows.append(low_i)
                group.highs.append(high_i)
        ok: torch.Tensor | None = None
        for (dtype, device), group in groups.items():
            stacked = torch.stack(group.values)
            if all(v == -math.inf for v in group.lows) and all(v == math.inf for v in group.highs):
                group_ok = torch.isfinite(stacked).all()
            else:
                low_t, high_t = _bounds(dtype, device, tuple(group.lows), tuple(group.highs))
                group_ok = torch.clamp(stacked, low_t, high_t).eq(stacked).all()
            ok = group_ok if ok is None else ok & group_ok.to(ok.device)
    return ok is not None and not bool(ok)


def _distinct_elements(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` without the repeats of an expanded view (stride 0): the same values once.

    ``x.unsqueeze(1).expand(B, K, ...)`` (``x`` against ``K`` samples) is tested on ``[B, 1,
    ...]``: ``K`` times fewer elements, the same finiteness, minimum and maximum.
    """
    strides = tensor.stride()
    if 0 not in strides:
        return tensor
    index = tuple(slice(0, 1) if stride == 0 else slice(None) for stride in strides)
    return tensor[index]


class _Group:
    """The numbers of one dtype and device in a fused test, with their bounds."""

    __slots__ = ("highs", "lows", "values")

    def __init__(self) -> None:
        self.values: list[torch.Tensor] = []
        self.lows: list[float] = []
        self.highs: list[float] = []


# ---------------------------------------------------------------------------- value checks
def check_all_finite(**tensors: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the first tensor that holds NaN or inf.

    A value check: recorded in the current scope (one fused read per scope) or settled at once
    outside any scope; free when value checks are off.
    """
    if not tensors or not value_checks_enabled():
        return
    items = [("finite", t, 0.0, 0.0) for t in tensors.values()]
    _record(items, lambda: _exact_all_finite(tensors))


def _exact_all_finite(tensors: dict[str, torch.Tensor]) -> None:
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
    """Raise ``ValueError`` if any value of ``tensor`` lies outside ``[low, high]``.

    NaN is not reported here (the finiteness check names it). Recorded like
    :func:`check_all_finite`.
    """
    if not value_checks_enabled() or tensor.numel() == 0:
        return
    _record([("range", tensor, low, high)], lambda: _exact_in_interval(name, tensor, low, high))


def _exact_in_interval(name: str, tensor: torch.Tensor, low: float, high: float) -> None:
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
        if value_checks_enabled():
            _record([("scalar", value, 0.0, math.inf)], lambda: _exact_weight(name, value))
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return float(value)


def _exact_weight(name: str, value: torch.Tensor) -> None:
    if not bool(torch.isfinite(value) & (value >= 0)):
        raise ValueError(f"{name} must be finite and >= 0, got {float(value)}")


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
