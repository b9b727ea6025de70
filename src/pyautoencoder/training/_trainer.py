"""The training loop on Lightning Fabric: :class:`Trainer` and :func:`fit`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import _schema, _validation
from .._io import remove_temp_files
from . import _lock
from ._batches import Batch
from ._checkpoint import (
    STATE_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    checkpoint_name,
    find_checkpoint,
    load_trainer_state,
    load_weights,
    save_checkpoint,
)
from ._config import FitResult, NonFiniteLossError, TrainerConfig
from ._hooks import after_optimizer_step_hook
from ._local import LocalRun, local_run_for
from ._logging import MetricsLog, Progress, RunningMeans, read_metrics, to_floats
from ._monitor import EarlyStopping, NonFiniteGuard, validation_metrics
from ._multi import MultiOptimizerUpdates, UpdateStepsModule, declared_steps
from ._optim import FusedAdamStep, make_optimizer, make_scheduler
from ._schedules import as_beta_schedule
from ._setup import (
    default_loggers,
    fabric_module,
    has_lazy_parameters,
    interrupt_requests,
    make_batch_source,
    make_fabric,
    materialize,
    restore_rng,
    rng_snapshot,
)
from ._step import TrainingStep, accepts_keyword, check_keywords, default_batch_fn

_VAL_SEED = 7919


def _is_plain_run(fabric: Any) -> bool:
    """One process on one device in fp32 with Fabric's plain precision and no callbacks.

    Then ``fabric.setup_module``'s wrapper, ``fabric.backward`` and the wrapped optimizer's
    ``step`` do nothing but call the module, ``loss.backward()`` and ``optimizer.step()``, and
    the trainer calls those directly. Any other strategy or precision (DDP, autocast, gradient
    scaling, DeepSpeed ...) keeps Fabric's wrappers.
    """
    if isinstance(fabric, LocalRun):
        return True
    Precision = fabric_module("plugins").Precision
    SingleDeviceStrategy = fabric_module("strategies").SingleDeviceStrategy

    strategy = fabric.strategy
    return (
        fabric.world_size == 1
        and type(strategy) is SingleDeviceStrategy
        and type(strategy.precision) is Precision
        and not getattr(fabric, "_callbacks", None)
    )


class Trainer:
    """Trains any model of the library: ``model(x, ...)``, then ``model.compute_loss``.

    ``Trainer(**options).fit(model, train_data, val_data)``; the options are those of
    :class:`TrainerConfig`. After ``fit`` the trainer exposes ``step``, ``epoch`` and ``fabric``
    (for callbacks); :meth:`request_stop` ends the run at the next step boundary.
    """

    def __init__(self, config: TrainerConfig | None = None, **options: Any) -> None:
        if config is not None and options:
            raise TypeError("pass either a TrainerConfig or keyword options, not both")
        self.config = config if config is not None else TrainerConfig(**options)
        self.step = 0
        self.epoch = 0
        self.fabric: Any = None
        self._stop_requested = False  # agreed by every process: the loop stops
        self._stop_pending = False  # asked in this process (Ctrl-C, a callback)
        self._interrupted = False

    def request_stop(self, *, interrupted: bool = True) -> None:
        """Stop at the next step boundary (saving a checkpoint, as for Ctrl-C)."""
        self._stop_pending = True
        self._interrupted = self._interrupted or interrupted

    # ------------------------------------------------------------------ set-up
    def fit(self, model: nn.Module, train_data: object, val_data: object = None) -> FitResult:
        """Train ``model`` on ``train_data``; see :func:`pyautoencoder.training.fit`."""
        if not isinstance(model, nn.Module) or not callable(getattr(model, "compute_loss", None)):
            raise TypeError(
                "model must be an nn.Module with compute_loss(x, output, ...), got "
                f"{type(model).__name__}"
            )
        cfg = self.config
        if cfg.early_stopping_patience is not None and val_data is None:
            raise ValueError("early_stopping_patience needs val_data")
        if cfg.restore_best and val_data is None:
            raise ValueError("restore_best needs val_data")
        started = time.perf_counter()
        self._stop_requested = self._stop_pending = self._interrupted = False
        # Seed first: lazy layers (initialised from the first batch), the sampling noise and
        # anything Fabric or a strategy creates draw from the global RNG from here on.
        torch.manual_seed(cfg.seed)
        self.fabric = self._launch_fabric(model)
        out_dir = cfg.out_dir if self.fabric.is_global_zero else None
        if out_dir is not None:
            _lock.acquire(out_dir)  # before anything is written; RunLockedError if taken
        try:
            return self._fit_locked(model, train_data, val_data, started)
        finally:
            if out_dir is not None:
                _lock.release(out_dir)

    def _fit_locked(
        self, model: nn.Module, train_data: object, val_data: object, started: float
    ) -> FitResult:
        cfg = self.config
        if cfg.out_dir is not None and self.fabric.is_global_zero:
            remove_temp_files(cfg.out_dir, ["metrics.jsonl"])
        self.model = model
        resume = None
        if cfg.resume is not None:
            checkpoint = find_checkpoint(cfg.resume)
            state = load_trainer_state(checkpoint / STATE_FILE)
            try:  # every field a resume uses, with its type (one line naming the first problem)
                _schema.check_trainer_state(state, f"trainer state {checkpoint / STATE_FILE}")
            except _schema.SchemaError as error:
                raise CheckpointError(str(error)) from error
            resume = (checkpoint, state)
        self._train = make_batch_source(train_data, self.fabric, cfg, train=True)
        self._val = (
            None if val_data is None else make_batch_source(val_data, self.fabric, cfg, train=False)
        )
        self._setup_model(model, None if resume is None else resume[0])
        self._setup_optimization(model)
        self._init_run_state()
        if resume is not None:
            self._apply_resume_state(*resume)
        elif self.fabric.global_rank > 0:
            torch.manual_seed(cfg.seed + self.fabric.global_rank)  # independent sampling noise
        return self._run(started)

    def _launch_fabric(self, model: nn.Module) -> Any:
        cfg = self.config
        loggers = default_loggers(cfg)
        local = local_run_for(cfg, loggers)
        if local is not None:  # one CPU process in fp32: no Lightning import (see _local.py)
            return local
        fabric = make_fabric(
            accelerator=cfg.accelerator,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=strategy_for(cfg.strategy, model),
            precision=cfg.precision,
            loggers=loggers,
        )
        fabric.launch()
        return fabric

    def _setup_model(self, model: nn.Module, checkpoint: Path | None) -> None:
        """Materialise lazy layers, load resumed weights, wrap forward + loss for Fabric."""
        cfg = self.config
        batch_fn = cfg.batch_fn or default_batch_fn(model)
        model.to(self.fabric.device)
        if has_lazy_parameters(model):
            materialize(model, batch_fn, next(self._train.epoch(0)))
        if checkpoint is not None:
            load_weights(model, checkpoint / WEIGHTS_FILE)
        self._prepare_objective(model)
        step_module: nn.Module = TrainingStep(model, batch_fn, cfg.forward_kwargs, cfg.loss_kwargs)
        self._update_steps = declared_steps(model)
        if cfg.compile:
            options = cfg.compile if isinstance(cfg.compile, dict) else {}
            step_module = torch.compile(step_module, **options)  # type: ignore[assignment]
        self._step_module = step_module  # unwrapped: validation runs no collectives
        if self._update_steps is None:
            self._module = self.fabric.setup_module(step_module)
        else:
            self._module = self.fabric.setup_module(self._updates_module(model, batch_fn))
        # A plain run (one process, fp32, a strategy without backward/step hooks): Fabric's
        # wrappers would only pass the calls through, at ~0.1 ms of Python per step.
        self._plain = _is_plain_run(self.fabric)
        self._forward = self._step_module if self._plain else self._module

    def _updates_module(self, model: nn.Module, batch_fn: Any) -> nn.Module:
        """The module running one update step of a model with several optimizers."""
        cfg = self.config
        if cfg.forward_kwargs:
            raise ValueError(
                f"forward_kwargs do not apply to {type(model).__name__}: its training_steps() "
                "run their own forward passes"
            )
        assert self._update_steps is not None
        module = UpdateStepsModule(model, self._update_steps, batch_fn, cfg.loss_kwargs)
        if cfg.compile:
            options = cfg.compile if isinstance(cfg.compile, dict) else {}
            return torch.compile(module, **options)  # type: ignore[return-value]
        return module

    def _setup_optimization(self, model: nn.Module) -> None:
        cfg = self.config
        self._updates: MultiOptimizerUpdates | None = None
        if self._update_steps is not None:
            self._setup_updates(model)
            return
        optimizer = make_optimizer(
            cfg.optimizer,
            model.parameters(),
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            extra=cfg.optimizer_kwargs,
        )
        self._optimizer = self.fabric.setup_optimizers(optimizer)
        self._after_optimizer_step = after_optimizer_step_hook(model)
        self._fast_optimizer = FusedAdamStep(optimizer) if self._plain else None
        self._total_steps = self._count_total_steps()
        self._scheduler = make_scheduler(
            cfg.scheduler, optimizer, self._total_steps, cfg.warmup_steps
        )
        self._schedule = (
            None if self._beta_schedule is None else self._beta_schedule.bind(self._total_steps)
        )
        self._beta = torch.zeros((), device=self.fabric.device)

    def _setup_updates(self, model: nn.Module) -> None:
        """One optimizer and scheduler per declared update step (see ``_multi.py``)."""
        assert self._update_steps is not None
        self._total_steps = self._count_total_steps()
        self._updates = MultiOptimizerUpdates(
            self._update_steps, self.fabric, self._module, model, self.config, self._total_steps
        )
        self._optimizer = self._updates.optimizers[0]  # the first step's, for the logged lr
        self._after_optimizer_step = after_optimizer_step_hook(model)
        self._fast_optimizer = None
        self._scheduler = None
        self._schedule = (
            None if self._beta_schedule is None else self._beta_schedule.bind(self._total_steps)
        )
        self._beta = torch.zeros((), device=self.fabric.device)
        self._train_step = self._train_updates  # type: ignore[method-assign]

    def _prepare_objective(self, model: nn.Module) -> None:
        cfg = self.config
        compute_loss: Callable[..., Any] = model.compute_loss  # type: ignore[assignment]
        check_keywords(compute_loss, cfg.loss_kwargs, f"{type(model).__name__}.compute_loss")
        check_keywords(model.forward, cfg.forward_kwargs, f"{type(model).__name__}.forward")
        self._beta_schedule = as_beta_schedule(cfg.beta)
        if self._beta_schedule is not None and not accepts_keyword(compute_loss, "beta"):
            raise TypeError(
                f"beta was given but {type(model).__name__}.compute_loss takes no beta argument "
                "(set the weight in the model's constructor instead)"
            )

    def _count_total_steps(self) -> int:
        cfg = self.config
        per_epoch = self._train.batches_per_epoch()
        if per_epoch == 0:
            raise ValueError(
                f"batch_size={cfg.batch_size} with drop_last=True leaves no complete batch"
            )
        self._per_epoch = per_epoch
        candidates = []
        if cfg.epochs is not None and per_epoch is not None:
            candidates.append(cfg.epochs * per_epoch)
        if cfg.max_steps is not None:
            candidates.append(cfg.max_steps)
        if not candidates:
            raise ValueError("the training data has no length: give max_steps")
        return min(candidates)

    def _init_run_state(self) -> None:
        self.step = 0
        self.epoch = 0
        self._batch_in_epoch = 0
        cfg = self.config
        self._stopping = EarlyStopping(
            cfg.monitor, cfg.mode, cfg.early_stopping_patience, cfg.min_delta
        )
        self._best_state: dict[str, torch.Tensor] | None = None
        self._stopped_early = False
        self._train_means = RunningMeans()
        self._beta_sum = 0.0
        self._guard = NonFiniteGuard(self.fabric.device)
        self._last_train: dict[str, float] = {}
        self._last_train_step = 0
        self._last_val: dict[str, float] = {}
        self._last_checkpoint: Path | None = None
        self._finite_step = 0  # the weights were last checked finite after this step
        self._checkpoint_step = -1
        self._events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ resume
    def _apply_resume_state(self, checkpoint: Path, state: dict[str, Any]) -> None:
        run = state.get("run", {})
        expected = {
            "model_class": type(self.model).__qualname__,
            "num_train_examples": self._train.num_examples,
            "batch_size": self.config.batch_size,
            "world_size": self.fabric.world_size,
        }
        for key, value in expected.items():
            if run.get(key) != value:
                raise CheckpointError(
                    f"cannot resume from {checkpoint}: it was written with {key}="
                    f"{run.get(key)!r}, this run has {key}={value!r}"
                )
        try:
            if self._updates is not None:
                self._updates.load_state_dict(state["optimizers"])
            else:
                self._optimizer.load_state_dict(state["optimizer"])
            if self._scheduler is not None and state.get("scheduler") is not None:
                self._scheduler.load_state_dict(state["scheduler"])
        except (KeyError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"cannot resume from {checkpoint}: optimizer state does not fit ({error})"
            ) from error
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self._batch_in_epoch = int(state["batch_in_epoch"])
        self._stopping.load_state_dict(state.get("early_stopping", {}))
        restore_rng(state["rng"], self.fabric.device)
        if self.fabric.global_rank > 0:
            torch.manual_seed(self.config.seed + self.fabric.global_rank + self.step)
        self._checkpoint_step = self.step
        self._finite_step = self.step
        self._guard.start_at(self.step)

    def _state(self) -> dict[str, Any]:
        if self._updates is not None:
            return {**self._state_common(), "optimizers": self._updates.state_dict()}
        return self._state_common()

    def _state_common(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self._batch_in_epoch,
            "optimizer": self._optimizer.state_dict(),
            "scheduler": None if self._scheduler is None else self._scheduler.state_dict(),
            "rng": rng_snapshot(self.fabric.device),
            "early_stopping": self._stopping.state_dict(),
            "run": {
                "model_class": type(self.model).__qualname__,
                "num_train_examples": self._train.num_examples,
                "batch_size": self.config.batch_size,
                "world_size": self.fabric.world_size,
                "total_steps": self._total_steps,
                "config": self.config.to_json(),
            },
        }

    # ------------------------------------------------------------------ loop
    def _run(self, started: float) -> FitResult:
        cfg = self.config
        out = None if cfg.out_dir is None else Path(cfg.out_dir)
        log = MetricsLog(
            out / "metrics.jsonl" if out is not None and self.fabric.is_global_zero else None
        )
        if cfg.resume is not None:
            log.truncate_after(self.step)
        self._log = log
        progress = Progress(
            cfg.progress if self.fabric.is_global_zero else False, self._total_steps, self.step
        )
        steps_this_call = 0
        status = "failed"
        # After the first value_check_batches batches the run's value checks are off in this
        # thread only (a scope, not the process-wide default); a model whose own switch is set
        # (model.value_checks = True) keeps it.
        self._unchecked: _validation.ValueCheckScope | None = None
        try:
            with interrupt_requests(self.request_stop):
                self._module.train()
                while not self._finished():
                    steps_this_call = self._run_epoch(progress, steps_this_call)
                self._finish(progress)
            status = "success"
        finally:
            if self._unchecked is not None:
                self._unchecked.__exit__(None, None, None)
                self._unchecked = None
            progress.close()
            log.close()
            for logger in self.fabric.loggers:  # flush and close (TensorBoard event files)
                logger.finalize(status)
        return self._result(started)

    def _run_epoch(self, progress: Progress, steps_this_call: int) -> int:
        """Run (the rest of) the current epoch; returns the number of steps of this call."""
        exhausted = True
        for batch in self._train.epoch(self.epoch, self._batch_in_epoch):
            if steps_this_call == self.config.value_check_batches and self._unchecked is None:
                self._unchecked = _validation.ValueCheckScope(False, batch=False).__enter__()
            self._train_step(batch)
            steps_this_call += 1
            progress.advance()
            self._after_step(progress)
            if self._stop_requested or self.step >= self._total_steps:
                exhausted = self._batch_in_epoch == self._per_epoch
                break
        if exhausted and not self._stop_requested:
            self._end_epoch(progress)
        return steps_this_call

    def _finished(self) -> bool:
        if self._stop_requested or self._stopped_early or self.step >= self._total_steps:
            return True
        return self.config.epochs is not None and self.epoch >= self.config.epochs

    def _train_step(self, batch: Batch) -> None:
        beta = None
        if self._schedule is not None:
            value = self._schedule(self.step)
            self._beta.fill_(value)
            self._beta_sum += value
            beta = self._beta
        fast = self._fast_optimizer
        if fast is not None:
            fast.zero_grad()
        else:
            self._optimizer.zero_grad(set_to_none=True)
        objective, diagnostics = self._forward(batch, beta)
        loss = objective.detach()
        if self.config.check_finite == "step" and not bool(torch.isfinite(loss)):
            self._guard.mark(self.step)
            self._raise_non_finite(self.step + 1)
        if self._plain:
            objective.backward()
        else:
            self.fabric.backward(objective)
        if self.config.gradient_clip_val is not None:
            clip = self.config.gradient_clip_val
            by_norm = self.config.gradient_clip_algorithm == "norm"
            self.fabric.clip_gradients(
                self._module,
                self._optimizer,
                max_norm=clip if by_norm else None,
                clip_val=None if by_norm else clip,
                error_if_nonfinite=False,
            )
        if fast is not None:
            fast.step()
        else:
            self._optimizer.step()
        if self._after_optimizer_step is not None:
            self._after_optimizer_step()
        if self._scheduler is not None:
            self._scheduler.step()
        self._guard.record(loss)
        self._train_means.add({"loss": loss, **diagnostics})
        self.step += 1
        self._batch_in_epoch += 1

    def _train_updates(self, batch: Batch) -> None:
        """One trainer step of a model with several optimizers: every update that is due."""
        beta = None
        if self._schedule is not None:
            value = self._schedule(self.step)
            self._beta.fill_(value)
            self._beta_sum += value
            beta = self._beta
        assert self._updates is not None

        def non_finite() -> None:
            self._guard.mark(self.step)
            self._raise_non_finite(self.step + 1)

        total = self._updates.run(batch, self.step, beta, self._train_means, non_finite)
        if self._after_optimizer_step is not None:
            self._after_optimizer_step()
        self._guard.record(total)
        self.step += 1
        self._batch_in_epoch += 1

    def _after_step(self, progress: Progress) -> None:
        cfg = self.config
        for callback in cfg.callbacks:
            hook = getattr(callback, "on_step_end", None)
            if hook is not None:
                hook(self, self.step)
        if self.fabric.world_size == 1:
            self._stop_requested = self._stop_pending
        elif self.step % cfg.log_every_n_steps == 0:  # all processes agree at log intervals
            flag = torch.tensor(float(self._stop_pending), device=self.fabric.device)
            self._stop_requested = bool(self.fabric.all_reduce(flag, reduce_op="sum") > 0)
        if self.step % cfg.log_every_n_steps == 0:
            self._log_train(progress)
        if cfg.val_every_n_steps is not None and self.step % cfg.val_every_n_steps == 0:
            self._validate()
        if self._stop_requested or (
            cfg.checkpoint_every_n_steps is not None
            and self.step % cfg.checkpoint_every_n_steps == 0
        ):
            self._checkpoint()

    def _end_epoch(self, progress: Progress) -> None:
        self.epoch += 1
        self._batch_in_epoch = 0
        self._log_train(progress)
        if self.config.val_every_n_steps is None:
            self._validate()
        if self.config.checkpoint_every_n_steps is None:
            self._checkpoint()

    def _finish(self, progress: Progress) -> None:
        self._log_train(progress)
        if (
            not self._stop_requested
            and self._val is not None
            and self._last_val.get("step") != self.step
        ):
            self._validate()
        self._checkpoint()
        if self.config.restore_best and self._best_state is not None:
            self.model.load_state_dict(self._best_state)

    # ------------------------------------------------------------------ metrics
    def _reduce_mean(self, values: torch.Tensor) -> torch.Tensor:
        if self.fabric.world_size > 1:
            return self.fabric.all_reduce(values, reduce_op="mean")
        return values

    def _check_finite(self) -> None:
        bad_step = self._guard.first_bad_step(self.fabric)
        if bad_step is not None:
            self._raise_non_finite(bad_step)
        self._check_finite_parameters()

    def _check_finite_parameters(self) -> None:
        """Stop when a parameter or buffer turned NaN/inf while the loss stayed finite (a
        clamped log-variance can hide it): one reduction over the weights and one read, at log
        intervals and before every checkpoint, so no such weights are ever checkpointed."""
        tensors = [
            t.detach()
            for t in (*self.model.parameters(), *self.model.buffers())
            if t.is_floating_point() and t.numel() > 0 and not nn.parameter.is_lazy(t)
        ]
        if not tensors:
            return
        largest = torch.nn.utils.get_total_norm(tensors, norm_type=math.inf, foreach=True)
        finite = torch.isfinite(largest).to(torch.float32)
        if self.fabric.world_size > 1:  # sharded weights: every rank must stop together
            finite = self.fabric.all_reduce(finite, reduce_op="min")
        if bool(finite):
            self._finite_step = self.step
            return
        named = (*self.model.named_parameters(), *self.model.named_buffers())
        name = next((n for n, t in named if not bool(torch.isfinite(t).all())), "a shard")
        raise NonFiniteLossError(
            f"parameter {name} became non-finite (NaN or inf) between step {self._finite_step} "
            f"and step {self.step} although the training loss stayed finite; "
            f"{self._checkpoint_note()}. Try a lower lr, gradient_clip_val or a KL warm-up"
        )

    def _checkpoint_note(self) -> str:
        if self._last_checkpoint is not None:
            return f"the last good checkpoint {self._last_checkpoint} is intact"
        return "no checkpoint was written"

    def _log_train(self, progress: Progress) -> None:
        self._check_finite()
        if self._train_means.empty:
            return
        names, stacked = self._train_means.stacked()
        metrics = to_floats(names, None if stacked is None else self._reduce_mean(stacked))
        count = self._train_means.weight
        if self._schedule is not None:
            metrics["beta"] = self._beta_sum / count
        metrics["lr"] = float(self._optimizer.param_groups[0]["lr"])
        if self._updates is not None:
            metrics.update(self._updates.metrics(self._reduce_mean))
        self._train_means.reset()
        self._beta_sum = 0.0
        self._last_train, self._last_train_step = metrics, self.step
        progress.show({k: v for k, v in metrics.items() if k != "lr"})
        self._emit("train", metrics)

    def _emit(self, event: str, metrics: dict[str, float]) -> None:
        self._log.write(event, self.step, self.epoch, metrics)
        self._events.append({"event": event, "step": self.step, "epoch": self.epoch, **metrics})
        self.fabric.log_dict({f"{event}/{k}": v for k, v in metrics.items()}, step=self.step)
        for callback in self.config.callbacks:
            hook = getattr(callback, "on_log", None)
            if hook is not None:
                hook(self, event, metrics)

    def _raise_non_finite(self, bad_step: int) -> None:
        last = ", ".join(f"{k}={v:.6g}" for k, v in self._last_train.items()) or "none logged"
        where = self._checkpoint_note()
        raise NonFiniteLossError(
            f"the training loss became non-finite (NaN or inf) at step {bad_step}; last finite "
            f"diagnostics (step {self._last_train_step}): {last}; {where}. Try a lower lr, "
            "gradient_clip_val, a KL warm-up, or precision='32-true'"
        )

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        if self._val is None:
            return
        beta = None
        if self._schedule is not None:
            # The schedule's final weight: the monitored loss stays comparable during warm-up.
            beta = torch.tensor(self._schedule(self._total_steps), device=self.fabric.device)
        metrics = validation_metrics(
            self._step_module, self._val.epoch(0), self.fabric, beta, self.config.seed + _VAL_SEED
        )
        metrics.update(self._code_usage())
        self._last_val = {**metrics, "step": self.step}
        self._emit("val", metrics)
        if self._stopping.update(metrics, self.step):
            if self.config.restore_best:
                self._best_state = {
                    k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
                }
            if self.config.out_dir is not None:
                self._checkpoint(name="best")
        self._stopped_early = self._stopping.should_stop

    def _code_usage(self) -> dict[str, float]:
        """Code usage over the validation epoch for quantized models (``usage_*`` keys).

        :func:`pyautoencoder.evaluation.code_usage` on the validation batches (counts summed
        over processes): codes used, usage perplexity/entropy and dead codes of the whole
        epoch, which unlike the per-batch ``codes_used``/``perplexity`` do not depend on the
        batch size. Empty for other models.
        """
        quantizer = getattr(self.model, "quantizer", None)
        if self._val is None or not callable(getattr(quantizer, "count_codes", None)):
            return {}
        from ..evaluation._code_usage import count_model_codes, usage_from_counts

        was_training = self.model.training
        self.model.eval()
        try:
            counts = count_model_codes(self.model, self._val.epoch(0))
        finally:
            self.model.train(was_training)
        if self.fabric.world_size > 1:
            counts = self.fabric.all_reduce(counts, reduce_op="sum")
        return usage_from_counts(counts).as_dict()

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, name: str | None = None) -> None:
        """Write a checkpoint (rank 0) after checking that no non-finite loss slipped in."""
        if self.config.out_dir is None or (name is None and self._checkpoint_step == self.step):
            return
        self._check_finite()
        if self.fabric.is_global_zero:
            folder = Path(self.config.out_dir) / "checkpoints"
            try:
                path = save_checkpoint(
                    folder,
                    name or checkpoint_name(self.step),
                    self.model,
                    self._state(),
                    keep_last=self.config.keep_checkpoints,
                    update_latest=name is None,
                )
            except Exception as error:  # disk full, read-only, quota: OSError or the writer's own
                reason = " ".join(str(error).split())[:200] or type(error).__name__
                raise CheckpointError(
                    f"cannot write checkpoint {name or checkpoint_name(self.step)} in {folder} "
                    f"({reason}); {self._checkpoint_note()}"
                ) from error
            if name is None:
                self._last_checkpoint = path
        if name is None:
            self._checkpoint_step = self.step
            if self._last_checkpoint is None:
                self._last_checkpoint = (
                    Path(self.config.out_dir) / "checkpoints" / checkpoint_name(self.step)
                )
        self.fabric.barrier()

    def _result(self, started: float) -> FitResult:
        history = self._events
        if self._log.path is not None and self._log.path.is_file():
            history = read_metrics(self._log.path)
        val = {k: v for k, v in self._last_val.items() if k != "step"}
        result = FitResult(
            model=self.model,
            steps=self.step,
            epochs=self.epoch,
            history=history,
            train_metrics=dict(self._last_train),
            val_metrics=val,
            best_metric=self._stopping.best,
            best_step=self._stopping.best_step,
            stopped_early=self._stopped_early,
            interrupted=self._interrupted,
            checkpoint=self._last_checkpoint,
            wall_time=time.perf_counter() - started,
        )
        for callback in self.config.callbacks:
            hook = getattr(callback, "on_fit_end", None)
            if hook is not None:
                hook(self, result)
        return result


def strategy_for(strategy: Any, model: nn.Module) -> Any:
    """``strategy``, with DDP finding unused parameters for a model with several optimizers.

    Each :class:`~pyautoencoder.training.UpdateStep` runs its own forward and backward, and a
    discriminator's update reaches only the discriminator's parameters: DDP's reducer, which
    by default expects every parameter in every backward, then stops the run at the next
    forward ("Expected to have finished reduction in the prior iteration"). ``"ddp"`` is
    therefore given as ``"ddp_find_unused_parameters_true"`` for models that declare
    ``training_steps()`` (one more traversal of the graph per backward). Other values pass
    unchanged: for ``"ddp_spawn"`` and the like pass
    ``lightning.fabric.strategies.DDPStrategy(find_unused_parameters=True, ...)``.
    """
    if strategy == "ddp" and callable(getattr(model, "training_steps", None)):
        return "ddp_find_unused_parameters_true"
    return strategy
