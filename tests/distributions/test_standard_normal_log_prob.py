"""``StandardNormalPrior.log_prob``'s closed form against ``torch.distributions``."""

from __future__ import annotations

import pytest
import torch
from torch import distributions as D

from pyautoencoder.distributions import StandardNormalPrior


def test_closed_form_equals_torch_distributions_in_float64() -> None:
    z = 3 * torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    prior = StandardNormalPrior(3).double()
    reference = D.Independent(D.Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1).log_prob(z)
    result = prior.log_prob(z)
    assert result.shape == (4, 5) and result.dtype == torch.float64
    torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)


def test_wrong_latent_size_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"D_z = 3, got \(4, 2\)"):
        StandardNormalPrior(3).log_prob(torch.zeros(4, 2))


def test_a_subclass_with_its_own_distribution_is_used() -> None:
    class Wide(StandardNormalPrior):
        def distribution(self) -> D.Distribution:
            return D.Independent(D.Normal(torch.zeros(self.latent_dim), 2.0), 1)

    z = torch.ones(2, 3)
    expected = D.Independent(D.Normal(torch.zeros(3), 2.0), 1).log_prob(z)
    torch.testing.assert_close(Wide(3).log_prob(z), expected)
