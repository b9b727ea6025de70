"""fit / Trainer with several optimizers: models that declare ``training_steps()``."""

from __future__ import annotations

import copy
import os
import signal
from pathlib import Path

import pytest
import torch
from torch import nn
from training_helpers import FEATURES, LATENT, QUIET

from pyautoencoder.loss import LossResult
from pyautoencoder.training import Trainer, TrainingSteps, UpdateStep, find_checkpoint, fit
from pyautoencoder.training._checkpoint import STATE_FILE, load_trainer_state
from pyautoencoder.variational import FactorVAE


class _ToyGAN(nn.Module):
    """Two groups: ``a``'s loss reaches ``b`` (like a generator loss reaching a critic)."""

    def __init__(self, b_start: int = 2, b_every: int = 2, b_lr: float | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(FEATURES, 2)
        self.b = nn.Linear(2, 1)
        self.b_start, self.b_every, self.b_lr = b_start, b_every, b_lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x)

    def compute_loss(self, x: torch.Tensor, output: torch.Tensor) -> LossResult:
        objective = self.b(output).mean() + (output**2).mean()
        return LossResult(objective, {"code_norm": (output**2).mean().detach()})

    def _a_loss(self, x: torch.Tensor) -> LossResult:
        return self.compute_loss(x, self(x))

    def _b_loss(self, x: torch.Tensor) -> LossResult:
        critic = self.b(self.a(x).detach())
        return LossResult(((critic - 1) ** 2).mean(), {"critic_mean": critic.mean().detach()})

    def training_steps(self) -> tuple[UpdateStep, ...]:
        return (
            UpdateStep("a", tuple(self.a.parameters()), self._a_loss),
            UpdateStep(
                "b",
                tuple(self.b.parameters()),
                self._b_loss,
                start_step=self.b_start,
                every=self.b_every,
                lr=self.b_lr,
            ),
        )


def _tiny_factor_vae(seed: int = 0) -> FactorVAE:
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(FEATURES, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(LATENT, 16), nn.Tanh(), nn.Linear(16, FEATURES))
    return FactorVAE(encoder, decoder, LATENT, tc_weight=2.0, discriminator_hidden=(8,))


class _Snapshots:
    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        self.states.append(copy.deepcopy(trainer.model.state_dict()))


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {key.split(".")[0] for key in before if not torch.equal(before[key], after[key])}


def test_a_model_with_training_steps_satisfies_the_protocol() -> None:
    assert isinstance(_ToyGAN(), TrainingSteps)
    assert isinstance(_tiny_factor_vae(), TrainingSteps)


def test_each_update_changes_only_its_own_parameters(data) -> None:
    train, _ = data
    model = _ToyGAN(b_start=2, b_every=2)
    frozen = copy.deepcopy(model.state_dict())
    snapshots = _Snapshots()
    fit(model, train, max_steps=4, batch_size=40, callbacks=[snapshots], **QUIET)
    states = [frozen, *snapshots.states]
    changed = [_changed(states[i], states[i + 1]) for i in range(4)]
    # step 0, 1: only "a" is due; step 2: "a" then "b"; step 3: "a" only
    assert changed == [{"a"}, {"a"}, {"a", "b"}, {"a"}]


def test_updates_match_a_hand_written_alternating_loop(data) -> None:
    train, _ = data
    model = _ToyGAN(b_start=0, b_every=1, b_lr=0.05)
    reference = copy.deepcopy(model)
    fit(model, train, max_steps=3, batch_size=120, optimizer="sgd", lr=0.1, **QUIET)
    opt_a = torch.optim.SGD(reference.a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(reference.b.parameters(), lr=0.05)
    for _ in range(3):  # one full batch per step: the shuffle changes only the summation order
        for optimizer, loss in ((opt_a, reference._a_loss), (opt_b, reference._b_loss)):
            reference.zero_grad()
            loss(train).objective.backward()
            optimizer.step()
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_each_step_gets_its_own_learning_rate_and_logged_metrics(data) -> None:
    train, val = data
    trainer = Trainer(max_steps=4, batch_size=40, lr=1e-3, log_every_n_steps=2, progress=False)
    result = trainer.fit(_ToyGAN(b_start=0, b_every=1, b_lr=0.25), train, val)
    assert trainer._updates is not None
    lrs = [opt.param_groups[0]["lr"] for opt in trainer._updates.optimizers]
    assert lrs == [1e-3, 0.25]
    train_events = [e for e in result.history if e["event"] == "train"]
    expected = {"loss", "code_norm", "lr", "b_loss", "b_critic_mean", "b_lr"}
    assert expected <= train_events[0].keys()
    assert "loss" in result.val_metrics  # validation runs compute_loss


def test_single_optimizer_models_keep_the_single_optimizer_path(data) -> None:
    from training_helpers import make_vae

    train, _ = data
    trainer = Trainer(max_steps=2, batch_size=40, **QUIET)
    trainer.fit(make_vae(), train)
    assert trainer._updates is None and "_train_step" not in vars(trainer)


def test_checkpoint_holds_every_optimizer_state(data, tmp_path: Path) -> None:
    train, _ = data
    fit(_tiny_factor_vae(), train, max_steps=3, batch_size=40, out_dir=tmp_path, **QUIET)
    state = load_trainer_state(find_checkpoint(tmp_path) / STATE_FILE)
    assert set(state["optimizers"]) == {"vae", "discriminator"}
    for entry in state["optimizers"].values():
        assert entry["optimizer"]["state"]  # Adam moments exist for both


class _InterruptAt:
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        if step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_two_optimizer_run_resumes_bit_identically(data, tmp_path: Path) -> None:
    train, val = data
    options = dict(epochs=3, batch_size=32, scheduler="cosine", val_every_n_steps=5, **QUIET)
    straight = fit(_tiny_factor_vae(), train, val, out_dir=tmp_path / "a", **options)
    first = fit(
        _tiny_factor_vae(),
        train,
        val,
        out_dir=tmp_path / "b",
        callbacks=[_InterruptAt(5)],
        **options,
    )
    assert first.interrupted and first.steps == 5
    resumed = fit(
        _tiny_factor_vae(), train, val, out_dir=tmp_path / "b", resume=tmp_path / "b", **options
    )
    assert resumed.steps == straight.steps == 12
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.val_metrics == straight.val_metrics


def test_overlapping_parameter_groups_are_refused(data) -> None:
    model = _ToyGAN()
    shared = tuple(model.a.parameters())
    model.training_steps = lambda: (  # type: ignore[method-assign]
        UpdateStep("a", shared, model._a_loss),
        UpdateStep("b", shared, model._b_loss),
    )
    with pytest.raises(ValueError, match="in both 'a' and 'b'"):
        fit(model, data[0], max_steps=1, batch_size=40, **QUIET)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("every", 0, "every must be an int >= 1"),
        ("start_step", -1, "start_step must be an int >= 0"),
        ("lr", 0.0, "lr must be > 0"),
        ("name", "two words", "identifier"),
    ],
)
def test_update_step_rejects_bad_settings(field: str, value: object, message: str) -> None:
    options: dict[str, object] = {
        "name": "a",
        "parameters": (nn.Parameter(torch.zeros(1)),),
        "loss": lambda x: x,
        field: value,
    }
    with pytest.raises(ValueError, match=message):
        UpdateStep(**options)  # type: ignore[arg-type]


def test_update_step_needs_parameters() -> None:
    with pytest.raises(ValueError, match=r"non-empty sequence of nn\.Parameter"):
        UpdateStep("a", (), lambda x: x)


def test_a_non_finite_loss_in_a_later_update_stops_the_run(data, tmp_path: Path) -> None:
    from pyautoencoder.training import NonFiniteLossError

    model = _ToyGAN(b_start=0, b_every=1)
    model._b_loss = lambda x: LossResult(torch.tensor(float("nan"), requires_grad=True), {})  # type: ignore[method-assign]
    with pytest.raises(NonFiniteLossError, match="step 1"):
        fit(model, data[0], max_steps=3, batch_size=40, **QUIET)


def test_compiled_updates_give_the_eager_result(data) -> None:
    train, _ = data
    eager = fit(_ToyGAN(0, 1), train, max_steps=2, batch_size=40, optimizer="sgd", **QUIET)
    torch._dynamo.reset()
    compiled = fit(
        _ToyGAN(0, 1),
        train,
        max_steps=2,
        batch_size=40,
        optimizer="sgd",
        compile={"backend": "eager", "fullgraph": True},
        **QUIET,
    )
    for key, value in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[key], value)
