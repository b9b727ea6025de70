r"""A new objective in one module: the Renyi (VR) bound of Li & Turner (2016).

Shown on the "Objectives and posteriors" docs page as the template for adding an objective.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from pyautoencoder.loss import LossResult
from pyautoencoder.objectives import Objective, register_objective
from pyautoencoder.objectives._importance import SAMPLE_DIAGNOSTICS, importance_terms


@register_objective("renyi")
class RenyiBound(Objective):
    r"""The variational Renyi bound with ``K`` samples.

    .. math::

        \mathcal{L}_\alpha(x) = \frac{1}{1 - \alpha}
            \log \frac1K \sum_{k=1}^K w_k^{1 - \alpha},
        \qquad w_k = \frac{p(x, z_k)}{q(z_k \mid x)}

    (Li & Turner 2016, *Renyi divergence variational inference*, the VR bound of Sec. 3 and
    its Monte Carlo estimate of Sec. 4). ``alpha = 0`` is the IWAE bound; ``alpha -> 1`` the
    ELBO. Diagnostics: ``renyi_bound`` and those of the ELBO at the same samples.
    """

    def __init__(self, alpha: float = 0.5, num_samples: int = 5) -> None:
        super().__init__()
        if not (math.isfinite(alpha) and alpha >= 0 and alpha != 1):
            raise ValueError(f"alpha must be finite, >= 0 and != 1, got {alpha!r}")
        self.alpha, self._num_samples = float(alpha), int(num_samples)

    @property
    def num_samples(self) -> int:
        return self._num_samples

    def forward(
        self, model: Any, x: torch.Tensor, output: Any, *, beta: Any = 1.0, likelihood: Any = None
    ) -> LossResult:
        terms = importance_terms(model, x, output, beta, likelihood)
        scaled = (1.0 - self.alpha) * terms.log_weights  # [B, K]
        log_mean = torch.logsumexp(scaled, dim=1) - math.log(scaled.shape[1])  # [B]
        objective = -(log_mean / (1.0 - self.alpha)).mean()
        diagnostics = {"renyi_bound": -objective.detach(), **terms.diagnostics()}
        return LossResult(objective=objective, diagnostics=diagnostics)

    def diagnostic_keys(self) -> frozenset[str]:
        return SAMPLE_DIAGNOSTICS | {"renyi_bound"}

    def _config_args(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "num_samples": self.num_samples}
