"""No host reads in a training step of the quantised and regularised deterministic models.

With value checks off, a training step (forward, ``compute_loss``, backward, optimizer step)
must not read tensor values on the host: on a GPU each read waits for the device. On CPU the
reads are counted by patching the ``torch.Tensor`` methods behind them (as in
``tests/test_no_host_sync.py``). The VQ-VAE runs with its EMA update and the dead-code reset in
the forward, which are written with ``torch.where`` and ``index_add_`` for this reason.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import torch
from torch import nn

import pyautoencoder
from pyautoencoder._base import BaseAutoencoder
from pyautoencoder.quantized import VQVAE
from pyautoencoder.vanilla import RAE, ContractiveAE, DenoisingAE, SparseAE

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

HostReads = Callable[[], AbstractContextManager[dict[str, int]]]  # the conftest fixture


def _nets() -> tuple[nn.Module, nn.Module]:
    return nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3)), nn.Sequential(
        nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 12)
    )


MODELS: dict[str, Callable[[], BaseAutoencoder]] = {
    "vqvae_ema_reset": lambda: VQVAE(*_nets(), num_codes=16, code_dim=3, dead_code_steps=1),
    "vqvae_threshold": lambda: VQVAE(*_nets(), num_codes=16, code_dim=3, dead_code_threshold=2),
    "vqvae_loss_codebook": lambda: VQVAE(*_nets(), num_codes=16, code_dim=3, ema=False),
    "denoising_ae": lambda: DenoisingAE(*_nets(), corruption="salt_and_pepper"),
    "sparse_ae": lambda: SparseAE(*_nets(), l1_weight=0.1),
    "contractive_ae": lambda: ContractiveAE(*_nets()),
    "rae_gp": lambda: RAE(*_nets(), 3),
    "rae_l2": lambda: RAE(*_nets(), 3, regularizer="weight_decay"),
}


def _count_reads(model: BaseAutoencoder, host_reads: HostReads, checks: bool) -> dict[str, int]:
    """Host reads during three training steps of ``model`` (value checks on or off)."""
    model.train()
    x = torch.rand(16, 12)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    with pyautoencoder.value_checks(checks), host_reads() as counts:
        for _ in range(3):
            loss = model.compute_loss(x, model(x)).objective
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return counts


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_step_reads_nothing_on_the_host(name: str, host_reads: HostReads) -> None:
    torch.manual_seed(0)
    counts = _count_reads(MODELS[name](), host_reads, checks=False)
    assert sum(counts.values()) == 0


def test_the_counter_sees_the_reads_of_value_checks(host_reads: HostReads) -> None:
    torch.manual_seed(0)
    counts = _count_reads(MODELS["vqvae_ema_reset"](), host_reads, checks=True)
    assert sum(counts.values()) > 0  # positive control: NaN/inf checks read values
