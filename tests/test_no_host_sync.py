"""No host synchronisation in a training step once value checks are off.

On a GPU every read of a tensor's value on the host (``.item()``, ``bool(t)``, ``float(t)``,
``int(t)``, ``.tolist()``) waits for the device. On CPU there is nothing to wait for, so the
calls are counted instead: the ``torch.Tensor`` methods behind them are patched with counting
wrappers for the duration of the steps. A positive control (value checks on) shows that the
counter does see the reads the checks make.

The optimizer is Adam with ``fused=True``, what :func:`pyautoencoder.training.fit` builds on
devices with a fused kernel: PyTorch's unfused CPU Adam reads its (host-side) step counter with
``.item()``, which is not a device sync but would be counted here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
import torch
from torch import nn

import pyautoencoder
from pyautoencoder.vanilla import AE
from pyautoencoder.variational import IWAE, VAE

HostReads = Callable[[], AbstractContextManager[dict[str, int]]]  # the conftest fixture


def _vae(cls: type[VAE], **kwargs: Any) -> VAE:
    encoder = nn.Sequential(nn.Linear(12, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 12))
    return cls(encoder, decoder, 3, likelihood="bernoulli", **kwargs)


def _ae() -> AE:
    return AE(nn.Sequential(nn.Linear(12, 3)), nn.Sequential(nn.Linear(3, 12)))


MODELS: dict[str, Callable[[], nn.Module]] = {
    "vae": lambda: _vae(VAE),
    "vae_free_bits": lambda: _vae(VAE, free_bits=0.1),
    "iwae": lambda: _vae(IWAE, num_samples=4),
    "iwae_dreg": lambda: _vae(IWAE, num_samples=4, gradient_estimator="dreg"),
    "ae": _ae,
}


def _data() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.bernoulli(torch.full((32, 12), 0.3), generator=generator)


def _training_steps(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, steps: int
) -> None:
    """Forward, ``compute_loss``, backward and an optimizer step, ``steps`` times."""
    loss_kwargs = {"likelihood": "bernoulli"} if isinstance(model, AE) else {}
    for _ in range(steps):
        output = model(x)
        loss = model.compute_loss(x, output, **loss_kwargs).objective
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_step_reads_no_tensor_value_with_value_checks_off(
    name: str, host_reads: HostReads
) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    x = _data()
    model.build(x)  # type: ignore[operator]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    _training_steps(model, optimizer, x, steps=1)  # optimizer state exists before counting
    with pyautoencoder.value_checks(False), host_reads() as counts:
        _training_steps(model, optimizer, x, steps=2)
    assert counts == dict.fromkeys(counts, 0)


def test_value_checks_on_are_seen_by_the_counter(host_reads: HostReads) -> None:
    torch.manual_seed(0)
    model = MODELS["vae"]()
    x = _data()
    model.build(x)  # type: ignore[operator]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    with pyautoencoder.value_checks(True), host_reads() as counts:
        _training_steps(model, optimizer, x, steps=1)
    assert sum(counts.values()) >= 1  # the NaN/inf and Bernoulli-support checks read values


def test_fit_steps_after_the_checked_batches_read_no_tensor_value(
    host_reads: HostReads,
) -> None:
    from pyautoencoder.training import fit

    torch.manual_seed(0)
    model = MODELS["vae"]()
    x = _data()  # 32 examples, batch 8: 4 steps per epoch, no epoch end among steps 2-3
    window: dict[str, Any] = {}

    class CountSteps:
        """Counts host reads from the end of step 1 to the end of step 3."""

        def on_step_end(self, trainer: object, step: int) -> None:
            if step == 1:
                window["context"] = host_reads()
                window["counts"] = window["context"].__enter__()
            elif step == 3:
                window["context"].__exit__(None, None, None)
                window["closed"] = True

    fit(
        model,
        x,
        max_steps=4,
        batch_size=8,
        value_check_batches=1,
        log_every_n_steps=50,
        progress=False,
        accelerator="cpu",
        callbacks=[CountSteps()],
    )
    assert window.get("closed") is True
    assert sum(window["counts"].values()) == 0
