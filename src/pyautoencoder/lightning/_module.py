"""``AutoencoderModule``: any model of the library as a ``lightning.LightningModule``."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning as L
import torch
from torch import nn

from .._validation import check_module
from ..loss._result import LossResult
from ..training._hooks import after_optimizer_step_hook
from ..training._step import check_keywords

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
BatchFn = Callable[[Any], tuple[Any, tuple[Any, ...]]]

_PREFIX = "model."


def _adam(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The default optimizer: Adam with step size ``1e-3`` (Kingma & Ba 2015)."""
    return torch.optim.Adam(params, lr=1e-3)


def _signature_params(function: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return []


def _extra_input_names(model: nn.Module) -> list[str]:
    """Names of the required positional inputs of ``model.forward`` after ``x`` (CVAE: y)."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [
        p.name
        for p in _signature_params(model.forward)
        if p.kind in positional and p.default is inspect.Parameter.empty
    ]
    return required[1:]


def _batch_size(x: Any) -> int:
    """``B`` of ``x``, or of the first tensor of a pair ``(x1, x2)``."""
    first = x[0] if isinstance(x, (tuple, list)) else x
    if not isinstance(first, torch.Tensor) or first.dim() == 0:
        raise TypeError(f"the model input must be a batched tensor [B, ...], got {first!r:.80}")
    return int(first.shape[0])


def lazy_parameter_names(model: nn.Module) -> list[str]:
    """Parameters and buffers of ``model`` that are still uninitialised (lazy layers)."""
    names = [name for name, p in model.named_parameters() if nn.parameter.is_lazy(p)]
    return names + [name for name, b in model.named_buffers() if nn.parameter.is_lazy(b)]


class AutoencoderModule(L.LightningModule):
    """A ``LightningModule`` that trains any model of the library.

    Each step runs ``output = model(x, *extra_inputs, **forward_kwargs)`` and
    ``model.compute_loss(x, output, **loss_kwargs)``, minimises its ``objective`` and logs it
    as ``train/loss`` (every step) or ``val/loss`` / ``test/loss`` (epoch means, reduced over
    processes with ``sync_dist=True``), together with every diagnostic of the
    :class:`~pyautoencoder.loss.LossResult` under the same prefix (``train/elbo``,
    ``val/kl_divergence`` ...).

    Batches may be ``x`` itself, a tuple/list ``(x, y, ...)`` or a dict with key ``"x"``. The
    model's required extra inputs (a CVAE's condition ``y``) are taken from the next tuple
    entries or from the dict keys named after ``forward``'s arguments; other entries (labels)
    are ignored. ``batch_fn`` overrides this.

    Lazy layers (``nn.LazyLinear``, a VAE's sampling layer) must be materialised before the
    trainer builds the optimizer and the DDP wrapper: call ``model.build(x)`` on a batch
    first, or pass ``example_input=x`` (the module calls ``model.build`` for you).

    Parameters
    ----------
    model : nn.Module
        A model of the library (or any module with ``forward`` and
        ``compute_loss(x, output, ...) -> LossResult``). Stored as ``self.model``, so the
        checkpoint's state-dict keys are ``"model." + key``.
    loss_kwargs, forward_kwargs : mapping, optional
        Fixed keyword arguments of ``compute_loss`` (``{"beta": 4.0}``) and ``forward``
        (``{"S": 5}``). A :class:`BetaScheduleCallback` overwrites ``loss_kwargs["beta"]``.
    optimizer : callable, optional
        ``params -> torch.optim.Optimizer``, e.g. ``functools.partial(torch.optim.SGD,
        lr=0.1)``; default Adam with ``lr=1e-3``.
    lr_scheduler : callable, optional
        ``optimizer -> scheduler``, or ``optimizer -> dict`` in Lightning's scheduler-config
        format (``{"scheduler": ..., "interval": "step"}``); a bare scheduler steps per epoch.
    example_input : torch.Tensor, optional
        A batch ``x`` for ``model.build`` (materialises lazy layers).
    batch_fn : callable, optional
        ``batch -> (x, extra_inputs)`` when batches have another layout.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_kwargs: Mapping[str, Any] | None = None,
        forward_kwargs: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        lr_scheduler: SchedulerFactory | None = None,
        *,
        example_input: torch.Tensor | None = None,
        batch_fn: BatchFn | None = None,
    ) -> None:
        super().__init__()
        check_module(model, "model")
        compute_loss = getattr(model, "compute_loss", None)
        if not callable(compute_loss):
            raise TypeError(
                f"model must have a compute_loss(x, output, ...) method, got {type(model).__name__}"
            )
        for name, value in (("optimizer", optimizer), ("lr_scheduler", lr_scheduler)):
            if value is not None and not callable(value):
                raise TypeError(
                    f"{name} must be a callable (e.g. functools.partial(torch.optim.SGD, lr=0.1)"
                    f" for optimizer), got {type(value).__name__}"
                )
        if callable(getattr(model, "training_steps", None)):
            # One optimizer over every parameter would also train the discriminator on the
            # generator's objective: a silently wrong run, so refuse it.
            raise TypeError(
                f"{type(model).__name__} trains with several optimizers (training_steps()), "
                "which AutoencoderModule does not run yet; train it with "
                "pyautoencoder.training.fit or the pyautoencoder command"
            )
        self.loss_kwargs: dict[str, Any] = dict(loss_kwargs or {})
        self.forward_kwargs: dict[str, Any] = dict(forward_kwargs or {})
        model_name = type(model).__name__
        check_keywords(compute_loss, self.loss_kwargs, f"{model_name}.compute_loss")
        check_keywords(model.forward, self.forward_kwargs, f"{model_name}.forward")
        self.model = model
        self._after_optimizer_step = after_optimizer_step_hook(model)
        self.optimizer_factory: OptimizerFactory = optimizer or _adam
        self.lr_scheduler_factory = lr_scheduler
        self.batch_fn = batch_fn
        self._extra_names = _extra_input_names(model)
        if example_input is not None:
            build = getattr(model, "build", None)
            if not callable(build):
                raise TypeError(f"example_input needs model.build(x); {model_name} has none")
            build(example_input)

    # ----------------------------------------------------------------- batches and steps
    def split_batch(self, batch: Any) -> tuple[Any, tuple[Any, ...]]:
        """``batch -> (x, extra_inputs)`` as described in the class docstring."""
        if self.batch_fn is not None:
            return self.batch_fn(batch)
        needed = len(self._extra_names)
        if isinstance(batch, torch.Tensor):
            if needed:
                raise ValueError(
                    f"{type(self.model).__name__}.forward needs {self._extra_names} besides x, "
                    "but the batch is a single tensor; yield (x, "
                    f"{', '.join(self._extra_names)}) tuples or dicts"
                )
            return batch, ()
        if isinstance(batch, Mapping):
            missing = [key for key in ("x", *self._extra_names) if key not in batch]
            if missing:
                raise KeyError(
                    f"the batch dict lacks {missing}; it has keys {sorted(map(str, batch))}"
                )
            return batch["x"], tuple(batch[name] for name in self._extra_names)
        if isinstance(batch, (tuple, list)):
            if len(batch) < 1 + needed:
                raise ValueError(
                    f"{type(self.model).__name__}.forward needs x and {self._extra_names}, but "
                    f"the batch holds {len(batch)} entries"
                )
            return batch[0], tuple(batch[1 : 1 + needed])
        raise TypeError(
            f"a batch must be a tensor, a tuple/list (x, ...) or a dict with key 'x', got "
            f"{type(batch).__name__}; pass batch_fn= for other layouts"
        )

    def forward(self, x: Any, *extra_inputs: Any) -> Any:
        """``model(x, *extra_inputs, **forward_kwargs)``."""
        return self.model(x, *extra_inputs, **self.forward_kwargs)

    def batch_loss(self, batch: Any) -> tuple[LossResult, int]:
        """The :class:`~pyautoencoder.loss.LossResult` of one batch and its size ``B``."""
        x, extra = self.split_batch(batch)
        output = self(x, *extra)
        compute_loss: Callable[..., LossResult] = self.model.compute_loss  # type: ignore[assignment]
        return compute_loss(x, output, **self.loss_kwargs), _batch_size(x)

    def _log_result(self, stage: str, result: LossResult, batch_size: int) -> None:
        metrics = {f"{stage}/loss": result.objective.detach()}
        metrics.update({f"{stage}/{key}": value for key, value in result.diagnostics.items()})
        if stage == "train":
            self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=batch_size)
        else:
            self.log_dict(
                metrics, on_step=False, on_epoch=True, sync_dist=True, batch_size=batch_size
            )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        result, batch_size = self.batch_loss(batch)
        self._log_result("train", result, batch_size)
        return result.objective

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        result, batch_size = self.batch_loss(batch)
        self._log_result("val", result, batch_size)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        result, batch_size = self.batch_loss(batch)
        self._log_result("test", result, batch_size)

    # ---------------------------------------------------------------- setup and optimizer
    def setup(self, stage: str) -> None:
        """Refuse unmaterialised lazy layers before the optimizer and DDP wrapper exist."""
        lazy = lazy_parameter_names(self.model)
        if lazy:
            shown = ", ".join(lazy[:3]) + (", ..." if len(lazy) > 3 else "")
            raise RuntimeError(
                f"{type(self.model).__name__} has lazy layers that are not materialised "
                f"({shown}); call model.build(x) on a batch before training, or pass "
                "AutoencoderModule(model, example_input=x)"
            )

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """Lightning's step, then the model's ``after_optimizer_step`` hook if it has one."""
        super().optimizer_step(*args, **kwargs)
        if self._after_optimizer_step is not None:
            self._after_optimizer_step()

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.model.parameters())
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must return a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if self.lr_scheduler_factory is None:
            return optimizer
        scheduler = self.lr_scheduler_factory(optimizer)
        config = scheduler if isinstance(scheduler, Mapping) else {"scheduler": scheduler}
        return {"optimizer": optimizer, "lr_scheduler": dict(config)}

    # ----------------------------------------------------------------------- checkpoints
    @staticmethod
    def load_model_weights(
        checkpoint_path: str | os.PathLike[str], model: nn.Module, strict: bool = True
    ) -> nn.Module:
        """Load a Lightning checkpoint's weights into the bare ``model``; see
        :func:`load_model_weights`."""
        return load_model_weights(checkpoint_path, model, strict=strict)


def load_model_weights(
    checkpoint_path: str | os.PathLike[str], model: nn.Module, strict: bool = True
) -> nn.Module:
    """Load the weights of an :class:`AutoencoderModule` checkpoint into a bare model.

    The checkpoint (``.ckpt`` written by Lightning) is read with
    ``torch.load(weights_only=True)`` (no code is unpickled); the ``"model."`` prefix of its
    state-dict keys is removed and the rest goes to ``model.load_state_dict(strict=strict)``.
    The model need not be built: lazy layers are materialised from the loaded tensors.

    Returns
    -------
    nn.Module
        ``model`` itself, for chaining.
    """
    check_module(model, "model")
    path = os.fspath(checkpoint_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"cannot read {path!r} as a weights-only Lightning checkpoint: {first}"
        ) from error
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path!r} is not a Lightning checkpoint: it has no 'state_dict' entry")
    weights = {
        key[len(_PREFIX) :]: value for key, value in state.items() if key.startswith(_PREFIX)
    }
    if not weights:
        raise ValueError(
            f"{path!r} holds no 'model.' weights (keys start with "
            f"{sorted({key.split('.')[0] for key in state})}); was it written by "
            "AutoencoderModule?"
        )
    model.load_state_dict(weights, strict=strict)
    return model
