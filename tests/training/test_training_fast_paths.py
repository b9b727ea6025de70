"""The trainer's fast paths do exactly what the plain PyTorch calls they replace do.

* :class:`FusedAdamStep` calls the fused Adam/AdamW kernel directly: parameters and optimizer
  state must be bit-identical to ``optimizer.step()``, and anything it does not reproduce
  (hooks, parameters without a gradient, other optimizers) must go through ``step()``.
* A plain single-device fp32 ``fit`` (no Fabric wrappers, direct fused Adam) must train the
  model bit-identically to the hand-written loop ``zero_grad``, ``compute_loss``, ``backward``,
  ``Adam(fused=True).step()``.
* Metrics and the NaN guard fold their per-step values in chunks: the means and the first
  non-finite step must not depend on where the chunks end.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from training_helpers import QUIET, make_vae

import pyautoencoder
from pyautoencoder.training import Trainer, fit
from pyautoencoder.training._logging import RunningMeans
from pyautoencoder.training._monitor import NonFiniteGuard
from pyautoencoder.training._optim import FusedAdamStep


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def _train_pair(
    make_optimizer, steps: int, *, prepare=None
) -> tuple[nn.Module, torch.optim.Optimizer, nn.Module, torch.optim.Optimizer, FusedAdamStep]:
    """The same net trained by ``optimizer.step()`` and by :class:`FusedAdamStep`."""
    net_a = _net()
    net_b = copy.deepcopy(net_a)
    opt_a, opt_b = make_optimizer(net_a), make_optimizer(net_b)
    sched_a = torch.optim.lr_scheduler.LambdaLR(opt_a, lambda s: 1 / (1 + s))
    sched_b = torch.optim.lr_scheduler.LambdaLR(opt_b, lambda s: 1 / (1 + s))
    fast = FusedAdamStep(opt_b)
    if prepare is not None:
        prepare(net_a, opt_a)
        prepare(net_b, opt_b)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(4, 5, generator=generator)
        for net in (net_a, net_b):
            net(x).square().sum().backward()
        opt_a.step()
        opt_a.zero_grad(set_to_none=True)
        fast.step()
        fast.zero_grad()
        sched_a.step()
        sched_b.step()
    return net_a, opt_a, net_b, opt_b, fast


def _identical(net_a, opt_a, net_b, opt_b) -> bool:
    for p, q in zip(net_a.parameters(), net_b.parameters()):
        if not torch.equal(p, q):
            return False
        state_a, state_b = opt_a.state[p], opt_b.state[q]
        if state_a.keys() != state_b.keys():
            return False
        if not all(torch.equal(state_a[k], state_b[k]) for k in state_a):
            return False
    return True


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda m: torch.optim.Adam(m.parameters(), lr=1e-2, fused=True),
        lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1, fused=True),
        lambda m: torch.optim.Adam(
            m.parameters(), lr=1e-2, amsgrad=True, weight_decay=0.01, fused=True
        ),
    ],
    ids=["adam", "adamw", "adam-amsgrad-l2"],
)
def test_direct_fused_step_is_bit_identical_to_optimizer_step(make_optimizer) -> None:
    net_a, opt_a, net_b, opt_b, fast = _train_pair(make_optimizer, 12)
    assert fast.direct_steps == 11  # the first step creates the state through step()
    assert _identical(net_a, opt_a, net_b, opt_b)


def test_direct_step_follows_a_reloaded_state() -> None:
    def adam(m):
        return torch.optim.Adam(m.parameters(), lr=1e-2, fused=True)

    net_a, opt_a, net_b, opt_b, fast = _train_pair(adam, 3)
    opt_b.load_state_dict(copy.deepcopy(opt_b.state_dict()))  # new state tensors
    x = torch.ones(2, 5)
    for net in (net_a, net_b):
        net(x).sum().backward()
    opt_a.step()
    fast.step()
    assert fast.direct_steps == 3
    assert _identical(net_a, opt_a, net_b, opt_b)


def test_hooks_and_other_optimizers_go_through_step() -> None:
    calls = []

    def hook(prepared_net, prepared_opt):
        prepared_opt.register_step_post_hook(lambda *args: calls.append(1))

    def adam(m):
        return torch.optim.Adam(m.parameters(), lr=1e-2, fused=True)

    net_a, opt_a, net_b, opt_b, fast = _train_pair(adam, 4, prepare=hook)
    assert fast.direct_steps == 0 and len(calls) == 8  # both optimizers ran their hooks
    assert _identical(net_a, opt_a, net_b, opt_b)

    def sgd(m):
        return torch.optim.SGD(m.parameters(), lr=1e-2, momentum=0.9)

    net_a, opt_a, net_b, opt_b, fast = _train_pair(sgd, 4)
    assert fast.direct_steps == 0
    assert all(torch.equal(p, q) for p, q in zip(net_a.parameters(), net_b.parameters()))


def test_a_parameter_without_gradient_is_left_to_adam() -> None:
    def freeze_last_bias(net, opt):
        net[2].bias.requires_grad_(False)  # never gets a gradient; Adam skips it

    def adam(m):
        return torch.optim.Adam(m.parameters(), lr=1e-2, fused=True)

    net_a, opt_a, net_b, opt_b, fast = _train_pair(adam, 5, prepare=freeze_last_bias)
    assert fast.direct_steps == 0
    assert _identical(net_a, opt_a, net_b, opt_b)


def test_plain_fit_is_the_hand_written_loop_bit_for_bit(data) -> None:
    train, _ = data
    steps_seen = []

    class Direct:
        def on_step_end(self, trainer: Trainer, step: int) -> None:
            steps_seen.append(trainer._fast_optimizer.direct_steps)

    result = fit(
        make_vae(),
        train,
        epochs=2,
        batch_size=40,
        shuffle=False,
        value_check_batches=0,
        callbacks=[Direct()],
        **QUIET,
    )
    assert steps_seen == [0, 1, 2, 3, 4, 5]

    model = make_vae()
    torch.manual_seed(0)  # fit seeds with seed=0, then builds the lazy layers
    model.build(train[:40])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    pyautoencoder.set_value_checks(False)
    try:
        for _ in range(2):
            for start in range(0, 120, 40):
                x = train[start : start + 40]
                optimizer.zero_grad(set_to_none=True)
                model.compute_loss(x, model(x)).objective.backward()
                optimizer.step()
    finally:
        pyautoencoder.set_value_checks(True)
    trained, expected = result.model.state_dict(), model.state_dict()
    assert trained.keys() == expected.keys()
    assert all(torch.equal(trained[k], expected[k]) for k in trained)


def test_running_means_do_not_depend_on_the_fold_boundaries() -> None:
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(11, 2, generator=generator)
    weights = [float(w) for w in range(1, 12)]
    means = RunningMeans(fold_every=3)
    for row, weight in zip(values, weights):
        means.add({"a": row[0], "b": row[1].requires_grad_()}, weight=weight)
    assert means.weight == sum(weights)
    names, stacked = means.stacked()
    expected = (values * torch.tensor(weights).unsqueeze(1)).sum(0) / sum(weights)
    assert names == ["a", "b"] and stacked is not None and not stacked.requires_grad
    torch.testing.assert_close(stacked, expected)
    with pytest.raises(ValueError, match=r"diagnostics changed between steps: \['a', 'b'\]"):
        means.add({"a": values[0, 0]})
    means.reset()
    assert means.empty and means.stacked() == ([], None)


class _World1:
    world_size = 1


@pytest.mark.parametrize("fold_every", [1, 3, 4, 64])
def test_guard_finds_the_first_bad_step_across_folds(fold_every: int) -> None:
    guard = NonFiniteGuard(torch.device("cpu"), fold_every=fold_every)
    guard.start_at(2)  # a resumed run: the first recorded step is step 2 (0-based)
    losses = [1.0, 2.0, 3.0, 4.0, math.inf, 5.0, math.nan, 6.0]
    for value in losses[:4]:
        guard.record(torch.tensor(value))
    assert guard.first_bad_step(_World1()) is None
    for value in losses[4:]:
        guard.record(torch.tensor(value))
    assert guard.first_bad_step(_World1()) == 2 + 4 + 1  # the 1-based step of the inf
