"""CodePrior: a normalised, causal autoregressive distribution over index grids; VQVAE.sample."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from pyautoencoder.quantized import VQVAE, CodePrior


def _prior(num_codes: int = 3, index_shape: tuple[int, ...] = (2,)) -> CodePrior:
    torch.manual_seed(0)
    return CodePrior(num_codes, index_shape, dim=16, depth=1, heads=2).double().eval()


def _all_grids(num_codes: int, index_shape: tuple[int, ...]) -> torch.Tensor:
    length = math.prod(index_shape)
    grids = list(itertools.product(range(num_codes), repeat=length))
    return torch.tensor(grids).reshape(-1, *index_shape)


@pytest.mark.parametrize("index_shape", [(), (3,), (2, 2)])
def test_probabilities_of_all_grids_sum_to_one(index_shape: tuple[int, ...]) -> None:
    prior = _prior(3, index_shape)
    grids = _all_grids(3, index_shape)
    total = prior.log_prob(grids).exp().sum()
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64))


def test_a_position_sees_only_earlier_codes() -> None:
    prior = _prior(4, (5,))
    grids = torch.randint(0, 4, (6, 5), generator=torch.Generator().manual_seed(1))
    logits = prior(grids).logits  # [6, 5, 4]
    changed = grids.clone()
    changed[:, 2] = (changed[:, 2] + 1) % 4
    other = prior(changed).logits
    torch.testing.assert_close(logits[:, :3], other[:, :3])  # positions 0..2 do not see k_2
    assert not torch.allclose(logits[:, 3:], other[:, 3:])


def test_loss_is_the_mean_nll_per_code_in_nats_and_bits() -> None:
    prior = _prior(3, (2, 2))
    grids = torch.randint(0, 3, (7, 2, 2), generator=torch.Generator().manual_seed(2))
    result = prior.compute_loss(grids, prior(grids))
    expected = -prior.log_prob(grids).mean() / 4
    torch.testing.assert_close(result.objective, expected)
    torch.testing.assert_close(result.diagnostics["bits_per_code"], expected / math.log(2))


def test_samples_follow_the_model_distribution() -> None:
    prior = _prior(3, (2,))
    torch.manual_seed(3)
    drawn = prior.sample(3000)
    grids = _all_grids(3, (2,))
    expected = prior.log_prob(grids).exp()
    codes = drawn[:, 0] * 3 + drawn[:, 1]
    frequencies = torch.bincount(codes, minlength=9).double() / 3000
    torch.testing.assert_close(frequencies, expected, atol=0.03, rtol=0)  # ~4 std at p = 0.5


def test_vqvae_samples_through_its_code_prior() -> None:
    torch.manual_seed(0)
    model = VQVAE(nn.Conv1d(2, 3, 1), nn.Conv1d(3, 2, 1), num_codes=5, code_dim=3)
    with pytest.raises(RuntimeError, match="no prior over its discrete codes yet"):
        model.sample(2)
    model.code_prior = CodePrior(5, (4,), dim=8, depth=1, heads=2)
    samples = model.sample(3)
    assert samples.shape == (3, 2, 4) and not samples.requires_grad


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="heads must divide dim"):
        CodePrior(4, (2,), dim=10, heads=3)
    prior = _prior(3, (2,))
    with pytest.raises(ValueError, match=r"\[B, \*index_shape\] = \[B, 2\]"):
        prior(torch.zeros(4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="integer tensor"):
        prior(torch.zeros(4, 2))


def test_an_attached_prior_stays_out_of_the_autoencoders_state() -> None:
    torch.manual_seed(0)
    model = VQVAE(nn.Linear(3, 2), nn.Linear(2, 3), num_codes=4, code_dim=2)
    keys = set(model.state_dict())
    model.code_prior = CodePrior(4, (), dim=8, depth=1, heads=2)
    assert set(model.state_dict()) == keys  # checkpoints/save_pretrained: the VQ-VAE alone
    assert model.code_prior is not None and "code_prior" not in dict(model.named_modules())
    fresh = VQVAE(nn.Linear(3, 2), nn.Linear(2, 3), num_codes=4, code_dim=2)
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert model.sample(2).shape == (2, 3)
    with pytest.raises(TypeError, match="code_prior must be a pyautoencoder"):
        model.code_prior = nn.Linear(2, 2)  # type: ignore[assignment]
