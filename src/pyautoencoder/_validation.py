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
import functools
import math
import numbers
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from ._fused_read import Item, fast_test_fails

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


class _PendingChecks:
    """Value checks recorded in a scope: fast items, exact tests in order, vouched tensors."""

    __slots__ = ("exact", "items", "vouched")

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.exact: list[Callable[[], None]] = []
        self.vouched: list[torch.Tensor] = []

    def settle(self) -> None:
        """Read the fused fast test once; on failure run the exact tests in order."""
        if not self.exact:
            return
        items, exact, vouched = self.items, self.exact, self.vouched
        self.items, self.exact, self.vouched = [], [], []
        if fast_test_fails(items, vouched):
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
        elif self._batch and self.enabled is not False:  # checks off record nothing
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


class _SwitchedOffScope(ValueCheckScope):
    """The scope of value checks off: records nothing and is never entered or left itself.

    Its one instance, :data:`_OFF`, is what :func:`in_value_check_scope` makes the thread's scope
    for a model whose switch is ``False`` (the training step of ``model.value_checks =
    False``); shared by every thread, it holds no per-call state.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(False, batch=False)


_OFF = _SwitchedOffScope()


def in_value_check_scope(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a model method so that it runs in a value-check scope with the model's switch.

    The model's switch is ``model.__dict__["_value_checks"]`` (``None``, ``True`` or
    ``False``). Switched off (the training step of ``model.value_checks = False``), the
    cheapest scope there is: the shared, immutable :data:`_OFF` becomes the thread's scope for
    the call, two attribute writes and no object. Otherwise a batching
    :class:`ValueCheckScope`, settled when the call returns. While compiling, no scope at all
    (checks are off and the compiler must not see the thread-local state).
    """

    @functools.wraps(method)
    def scoped(self: Any, *args: Any, **kwargs: Any) -> Any:
        if torch.compiler.is_compiling():  # no checks, nothing to enter
            return method(self, *args, **kwargs)
        enabled = self.__dict__.get("_value_checks")
        if enabled is False:
            previous = _LOCAL.scope
            _LOCAL.scope = _OFF
            try:
                return method(self, *args, **kwargs)
            finally:
                _LOCAL.scope = previous
        scope = ValueCheckScope(enabled)
        scope.__enter__()
        try:
            result = method(self, *args, **kwargs)
        except BaseException as error:
            scope.__exit__(type(error), error, None)
            raise
        scope.__exit__(None, None, None)
        return result

    scoped._value_check_scoped = True  # type: ignore[attr-defined]
    return scoped


def _pending() -> _PendingChecks | None:
    scope = _LOCAL.scope
    return None if scope is None else scope.pending


def settle_pending_checks() -> None:
    """Settle the checks recorded so far in this thread's scope (before a value is read)."""
    pending = _pending()
    if pending is not None:
        pending.settle()


def _record(items: Sequence[Item], exact: Callable[[], None]) -> None:
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
    if scope is None or scope.pending is None or scope.enabled is False:
        return
    if scope.enabled is None and not _VALUE_CHECKS_ENABLED:  # value_checks_enabled(), inlined
        return
    if torch.compiler.is_compiling():  # a compiled function inside an eager scope
        return
    pending = scope.pending
    pending.items.append(("finite", witness, 0.0, 0.0))
    pending.vouched.extend(covered)


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
    if type(value) is int and value >= 1:  # the common case, without the ABC check below
        return value
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
    if type(value) is float or type(value) is int:  # the common case, without the ABC check
        if value >= 0 and math.isfinite(value):
            return float(value)
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
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
