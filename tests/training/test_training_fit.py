"""fit / Trainer: learning, exact resume, Ctrl-C, NaN guard, early stopping, options."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset
from training_helpers import QUIET, make_vae

import pyautoencoder
from pyautoencoder.nets import create_model
from pyautoencoder.training import (
    CheckpointError,
    LinearWarmup,
    NonFiniteLossError,
    Trainer,
    find_checkpoint,
    fit,
    load_weights,
)
from pyautoencoder.vanilla import AE


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_fit_lowers_the_validation_loss(data) -> None:
    train, val = data
    model = make_vae()
    model.build(val)
    torch.manual_seed(1)
    with torch.no_grad():
        untrained = model.compute_loss(val, model(val)).objective.item()
    result = fit(model, train, val, epochs=8, batch_size=16, lr=1e-2, **QUIET)
    val_losses = [e["loss"] for e in result.history if e["event"] == "val"]
    assert len(val_losses) == 8
    assert val_losses[-1] < 0.8 * untrained
    assert result.steps == 8 * 8 and result.epochs == 8


def test_metrics_jsonl_has_one_object_per_event(data, tmp_path: Path) -> None:
    train, val = data
    fit(make_vae(), train, val, epochs=2, batch_size=40, out_dir=tmp_path, **QUIET)
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert kinds == {"train", "val"}
    for event in events:
        assert {"step", "epoch", "loss"} <= event.keys()
    train_events = [e for e in events if e["event"] == "train"]
    assert {"elbo", "kl_divergence", "log_likelihood", "lr"} <= train_events[0].keys()


class _InterruptAt:
    """Sends a real SIGINT (Ctrl-C) to this process after a given step."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        if step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("as_dataset", [False, True], ids=["tensors", "dataset"])
def test_interrupted_and_resumed_run_is_bit_identical(data, tmp_path: Path, as_dataset) -> None:
    train, val = data
    train_data: object = train
    if as_dataset:

        class Rows(Dataset):
            def __len__(self) -> int:
                return len(train)

            def __getitem__(self, index: int) -> torch.Tensor:
                return train[index]

        train_data = Rows()
    options = dict(
        epochs=3,
        batch_size=32,
        beta=LinearWarmup(7),
        scheduler="cosine",
        val_every_n_steps=5,
        **QUIET,
    )
    straight = fit(make_vae(), train_data, val, out_dir=tmp_path / "a", **options)
    first = fit(
        make_vae(), train_data, val, out_dir=tmp_path / "b", callbacks=[_InterruptAt(6)], **options
    )
    assert first.interrupted and first.steps == 6
    assert find_checkpoint(tmp_path / "b").name == "step-00000006"
    resumed = fit(
        make_vae(), train_data, val, out_dir=tmp_path / "b", resume=tmp_path / "b", **options
    )
    assert resumed.steps == straight.steps == 12
    assert _same_weights(resumed.model, straight.model)
    assert resumed.val_metrics == straight.val_metrics


def test_resume_with_other_batch_size_is_refused(data, tmp_path: Path) -> None:
    train, _ = data
    fit(make_vae(), train, epochs=1, batch_size=30, out_dir=tmp_path, **QUIET)
    with pytest.raises(CheckpointError, match="batch_size=30, this run has batch_size=20"):
        fit(make_vae(), train, epochs=2, batch_size=20, resume=tmp_path, **QUIET)


class _NaNAfter(nn.Module):
    """Wraps a VAE; from training call ``bad_call`` on, its reconstruction is NaN."""

    def __init__(self, bad_call: int) -> None:
        super().__init__()
        self.vae = make_vae()
        self.calls = 0
        self.bad_call = bad_call

    def forward(self, x: torch.Tensor):
        self.calls += int(self.training)
        output = self.vae(x)
        if self.calls >= self.bad_call:
            output.x_hat = output.x_hat * float("nan")
        return output

    def compute_loss(self, x: torch.Tensor, output, beta=1.0):
        return self.vae.compute_loss(x, output, beta=beta)


def test_non_finite_loss_stops_with_step_and_keeps_last_checkpoint(data, tmp_path: Path) -> None:
    train, _ = data
    model = _NaNAfter(bad_call=6)
    options = {**QUIET, "log_every_n_steps": 4}
    with pytest.raises(
        NonFiniteLossError, match=r"at step 6; last finite diagnostics \(step 4\)"
    ) as info:
        fit(
            model,
            train,
            epochs=5,
            batch_size=10,
            out_dir=tmp_path,
            checkpoint_every_n_steps=4,
            **options,
        )
    assert "\n" not in str(info.value) and "step-00000004 is intact" in str(info.value)
    folder = find_checkpoint(tmp_path)
    assert folder.name == "step-00000004"
    restored = _NaNAfter(bad_call=10**9)
    restored.vae.build(train[:2])
    load_weights(restored, folder / "model.safetensors")
    assert all(torch.isfinite(p).all() for p in restored.parameters())


def test_per_step_finite_check_stops_before_the_bad_update(data) -> None:
    train, _ = data
    model = _NaNAfter(bad_call=3)
    with pytest.raises(NonFiniteLossError, match="at step 3"):
        fit(model, train, epochs=1, batch_size=10, check_finite="step", **QUIET)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_early_stopping_ends_the_run_and_restores_best(data) -> None:
    train, val = data
    result = fit(
        make_vae(),
        train,
        val,
        epochs=50,
        batch_size=40,
        early_stopping_patience=2,
        min_delta=1e9,
        restore_best=True,
        **QUIET,
    )
    assert result.stopped_early
    assert result.steps == 3 * 3  # improvement at eval 1, no improvement at evals 2 and 3
    assert result.best_step == 3


def test_value_checks_are_switched_off_after_the_first_batch_and_restored(data) -> None:
    train, _ = data
    seen = []

    class Spy:
        def on_step_end(self, trainer: Trainer, step: int) -> None:
            seen.append(pyautoencoder.value_checks_enabled())

    fit(make_vae(), train, epochs=1, batch_size=40, callbacks=[Spy()], **QUIET)
    assert seen == [True, False, False]
    assert pyautoencoder.value_checks_enabled()


def test_beta_reaches_compute_loss_as_a_tensor_following_the_schedule(data) -> None:
    train, _ = data
    received = []
    values = []
    model = make_vae()
    original = model.compute_loss

    def spy(x, output, beta=1.0, likelihood=None):
        received.append(beta)
        values.append(float(beta))
        return original(x, output, beta=beta, likelihood=likelihood)

    model.compute_loss = spy
    fit(model, train, epochs=1, batch_size=30, beta=LinearWarmup(4, end=2.0), **QUIET)
    assert all(isinstance(b, torch.Tensor) and b.dim() == 0 for b in received)
    assert len({id(b) for b in received}) == 1  # one tensor, refilled in place
    assert values == [0.0, 0.5, 1.0, 1.5]


def test_loss_kwargs_are_checked_against_compute_loss(data) -> None:
    train, _ = data
    with pytest.raises(TypeError, match=r"unexpected keyword\(s\) \['betta'\]; it accepts: beta"):
        fit(make_vae(), train, epochs=1, loss_kwargs={"betta": 2.0}, **QUIET)


def test_beta_for_a_model_without_kl_weight_is_refused(data) -> None:
    train, _ = data
    ae = AE(nn.Linear(12, 3), nn.Linear(3, 12))
    with pytest.raises(TypeError, match="compute_loss takes no beta"):
        fit(ae, train, epochs=1, beta=0.5, **QUIET)


def test_deterministic_autoencoder_trains_with_likelihood_kwarg(data) -> None:
    train, val = data
    torch.manual_seed(0)
    ae = AE(nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3)), nn.Linear(3, 12))
    result = fit(
        ae,
        train,
        val,
        epochs=5,
        batch_size=20,
        lr=1e-2,
        loss_kwargs={"likelihood": "gaussian"},
        **QUIET,
    )
    losses = [e["loss"] for e in result.history if e["event"] == "val"]
    assert losses[-1] < losses[0]


def test_extra_model_inputs_come_from_the_batch(data) -> None:
    """A CVAE's forward(x, y) gets y from the second tensor of each batch."""
    from pyautoencoder.variational import CVAE

    train, _ = data
    labels = torch.nn.functional.one_hot(torch.arange(len(train)) % 2, 2).float()
    torch.manual_seed(0)
    model = CVAE(nn.Sequential(nn.Linear(14, 16), nn.Tanh()), nn.Linear(5, 12), 3, condition_dim=2)
    result = fit(model, (train, labels), epochs=1, batch_size=40, **QUIET)
    assert result.steps == 3
    with pytest.raises(ValueError, match="needs 2 input tensor"):
        fit(model, train, epochs=1, batch_size=40, **QUIET)


def test_gradient_clipping_and_compile_run(data) -> None:
    train, _ = data
    result = fit(
        make_vae(),
        train,
        epochs=1,
        batch_size=40,
        drop_last=True,
        gradient_clip_val=0.5,
        compile={"backend": "eager", "fullgraph": True},
        **QUIET,
    )
    assert result.steps == 3 and torch.isfinite(torch.tensor(result.train_metrics["loss"]))


def test_bf16_mixed_precision_trains_on_cpu(data) -> None:
    train, val = data
    result = fit(make_vae(), train, val, epochs=2, batch_size=40, precision="bf16-mixed", **QUIET)
    assert result.steps == 6
    assert all(
        torch.isfinite(p).all() and p.dtype == torch.float32 for p in result.model.parameters()
    )
    assert torch.isfinite(torch.tensor(result.val_metrics["loss"]))


@pytest.mark.parametrize("latent_dim", [4, None], ids=["flat", "latent_maps"])
def test_bf16_mixed_precision_autocasts_the_resnet_vae_and_keeps_its_loss_finite(
    latent_dim: int | None,
) -> None:
    torch.manual_seed(0)
    model = create_model(
        "vae", (1, 16, 16), latent_dim, net="resnet", channels=(4, 8), latent_channels=2
    )
    last_conv = [m for m in model.decoder.modules() if isinstance(m, nn.Conv2d)][-1]
    seen: set[torch.dtype] = set()
    handle = last_conv.register_forward_hook(lambda mod, args, out: seen.add(out.dtype))
    images = torch.rand(8, 1, 16, 16)
    try:
        result = fit(
            model,
            images,
            max_steps=3,
            epochs=None,
            batch_size=4,
            precision="bf16-mixed",
            check_finite="step",
            **{**QUIET, "log_every_n_steps": 1},
        )
    finally:
        handle.remove()
    assert seen == {torch.bfloat16}  # the convolutions really ran under bf16 autocast
    losses = [e["loss"] for e in result.history if e["event"] == "train"]
    assert result.steps == 3 and len(losses) == 3
    assert torch.isfinite(torch.tensor(losses)).all()
    assert all(
        torch.isfinite(p).all() and p.dtype == torch.float32 for p in result.model.parameters()
    )


def test_a_trainer_can_fit_again_after_an_interrupt(data) -> None:
    train, _ = data
    trainer = Trainer(epochs=1, batch_size=40, callbacks=[_InterruptAt(1)], **QUIET)
    assert trainer.fit(make_vae(), train).interrupted
    trainer.config.callbacks = ()
    again = trainer.fit(make_vae(), train)
    assert not again.interrupted and again.steps == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"epochs": 0}, "epochs must be an int >= 1"),
        ({"epochs": None}, "give epochs or max_steps"),
        ({"lr": -1.0}, "lr must be > 0"),
        ({"check_finite": "never"}, "check_finite"),
        ({"monitor": "loss"}, "monitor must look like"),
    ],
)
def test_bad_options_are_named(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Trainer(**options)


def test_checkpoints_of_create_model_models_open_with_from_pretrained(tmp_path: Path) -> None:
    from pyautoencoder.nets import create_model, from_pretrained

    torch.manual_seed(0)
    model = create_model("vae", (6,), 2, hidden=(8,), likelihood="bernoulli")
    x = torch.rand(40, 6)
    fit(model, x, epochs=1, batch_size=20, out_dir=tmp_path, **QUIET)
    loaded = from_pretrained(find_checkpoint(tmp_path))
    assert type(loaded) is type(model) and _same_weights(loaded, model)


def test_tensor_batches_are_the_in_memory_fast_path(data) -> None:
    from pyautoencoder.data import TensorBatches

    train, _ = data
    batches = TensorBatches(train, batch_size=7, shuffle=False)
    result = fit(make_vae(), batches, epochs=1, batch_size=40, **QUIET)
    assert result.steps == 3  # fit's batch_size decides; the object contributes its tensors
