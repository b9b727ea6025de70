"""Adaptive group VAE for weakly supervised pairs (Locatello et al., 2020)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, cast

import torch
from torch import distributions as D
from torch import nn

from .._validation import check_num_samples, check_tensor
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..loss._kl import kl_divergence_diag_gaussian
from ..loss._result import LossResult
from ._outputs import AdaGVAEOutput, VAEDecodeOutput, VAEEncodeOutput, VAEOutput
from ._vae import VAE

_LOG_2 = math.log(2.0)


def _unpack_pair(x: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x, Sequence) or isinstance(x, str) or len(x) != 2:
        raise TypeError(f"x must be a pair (x1, x2) of tensors, got {type(x).__name__}")
    x1 = check_tensor(x[0], "x1")
    x2 = check_tensor(x[1], "x2")
    if x1.dim() == 0 or x2.dim() == 0 or x1.shape[0] != x2.shape[0]:
        raise ValueError(
            "x1 and x2 must have the same batch size, got shapes "
            f"{tuple(x1.shape)} and {tuple(x2.shape)}"
        )
    if x1.shape[1:] != x2.shape[1:]:
        raise ValueError(
            "x1 and x2 must hold examples of one shape (two views of the same kind of data), "
            f"got x1 {tuple(x1.shape)} (examples {tuple(x1.shape[1:])}) and x2 "
            f"{tuple(x2.shape)} (examples {tuple(x2.shape[1:])})"
        )
    return x1, x2


Aggregation = Literal["gvae", "mlvae"]


def _aggregate(
    mu1: torch.Tensor,
    log_var1: torch.Tensor,
    mu2: torch.Tensor,
    log_var2: torch.Tensor,
    aggregation: Aggregation,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared distribution of a pair's dimension: ``(mu, log_var)``, each ``[B, D_z]``."""
    if aggregation == "gvae":  # arithmetic mean of the two Gaussians' moments
        return 0.5 * (mu1 + mu2), torch.logaddexp(log_var1, log_var2) - _LOG_2
    # ML-VAE: normalised product of experts, precision (1/var1 + 1/var2) / 2, precision-weighted
    # mean; weight1 = prec1 / (prec1 + prec2) = sigmoid(log_var2 - log_var1).
    weight1 = torch.sigmoid(log_var2 - log_var1)
    mu = weight1 * mu1 + (1.0 - weight1) * mu2
    return mu, _LOG_2 - torch.logaddexp(-log_var1, -log_var2)


def _shared_dims(kl_per_dim: torch.Tensor, k: int | None) -> torch.Tensor:
    """Boolean ``[B, D_z]`` mask of the dimensions both inputs share."""
    if k is None:  # adaptive threshold
        tau = 0.5 * (kl_per_dim.amax(dim=1, keepdim=True) + kl_per_dim.amin(dim=1, keepdim=True))
        return kl_per_dim < tau
    # Known number k of differing factors: the k dims of largest KL stay, the rest are shared.
    differing = torch.zeros_like(kl_per_dim, dtype=torch.bool)
    if k > 0:
        differing = differing.scatter(1, kl_per_dim.topk(k, dim=1).indices, True)
    return ~differing


def adaptive_group_posteriors(
    mu1: torch.Tensor,
    log_var1: torch.Tensor,
    mu2: torch.Tensor,
    log_var2: torch.Tensor,
    aggregation: Aggregation = "gvae",
    k: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Share the latent dimensions a pair most likely has in common.

    Per row, ``delta_d = KL(q1_d || q2_d)`` and ``tau = (max_d delta + min_d delta) / 2``.
    Dimensions with ``delta_d < tau`` are shared (with a known number ``k`` of differing
    factors: all but the ``k`` dims of largest ``delta``, Locatello et al. 2020, Sec. 4).
    Shared dims of both posteriors become one aggregate distribution:

    * ``"gvae"`` (default, Hosoya 2019): mean ``(mu1 + mu2) / 2``, variance
      ``(sigma1^2 + sigma2^2) / 2``, whose log is ``logaddexp(log_var1, log_var2) - log 2``;
    * ``"mlvae"`` (Bouchacourt et al. 2018, as used by Locatello et al. 2020): a normalised
      product of experts, precision ``(1/sigma1^2 + 1/sigma2^2) / 2`` (log-variance
      ``log 2 - logaddexp(-log_var1, -log_var2)``) and the precision-weighted mean.

    Locatello et al. (2020), *Weakly-Supervised Disentanglement Without Compromises*, Sec. 4,
    eqs. 5-6. Shapes: all inputs and outputs ``[B, D_z]``. Returns
    ``(mu1', log_var1', mu2', log_var2')``.
    """
    kl_per_dim = kl_divergence_diag_gaussian(mu1, log_var1, mu2, log_var2, reduce_sum=False)
    shared = _shared_dims(kl_per_dim, k)  # [B, D_z]
    mu_avg, log_var_avg = _aggregate(mu1, log_var1, mu2, log_var2, aggregation)
    return (
        torch.where(shared, mu_avg, mu1),
        torch.where(shared, log_var_avg, log_var1),
        torch.where(shared, mu_avg, mu2),
        torch.where(shared, log_var_avg, log_var2),
    )


class AdaGVAE(nn.Module):
    r"""Adaptive group VAE: a :class:`VAE` trained on pairs that share some factors.

    In training mode, :meth:`forward` encodes both inputs of a pair, estimates which latent
    dimensions they share (:func:`adaptive_group_posteriors`) and replaces those dimensions of
    both posteriors by their aggregate before sampling and decoding. In eval mode each input
    goes through the plain VAE. The objective is the sum of the two VAE objectives on the
    adapted posteriors :math:`\tilde q`, per pair ``b`` (Locatello et al. 2020, Sec. 4):

    .. math::

        \mathcal{L}_b = \sum_{i=1}^{2} \Big(\frac1S \sum_s \sum_j
            \log p(x_{i,bj} \mid z_{i,bs})
            - \beta\,\mathrm{KL}(\tilde q(z \mid x_{i,b}) \,\|\, p(z))\Big),
        \qquad z_{i,bs} \sim \tilde q(z \mid x_{i,b}),

    ``objective = -mean_b L_b``. Shapes: ``x1, x2 [B, ...]`` (same ``B``); each of
    ``output.output1`` / ``output.output2`` is a :class:`VAEOutput` with ``z [B, S, D_z]``,
    ``mu, log_var [B, D_z]`` (the adapted posterior in training mode) and
    ``x_hat [B, S, ...]``.

    Single inputs go through the inner VAE: :meth:`encode`, :meth:`decode`,
    :meth:`posterior`, :attr:`prior`, :attr:`likelihood`, :meth:`sample` and
    :meth:`reconstruct` delegate to ``self.vae`` (``model.vae.encode`` works the same),
    so reports and other tools that take a VAE take an AdaGVAE too.

    Reference: F. Locatello, B. Poole, G. Raetsch, B. Schoelkopf, O. Bachem, M. Tschannen.
    *Weakly-Supervised Disentanglement Without Compromises.* ICML 2020.

    Parameters
    ----------
    vae : VAE
        The model whose encoder, sampling layer and decoder are shared by both inputs.
    aggregation : {"gvae", "mlvae"}
        How shared dimensions are combined (see :func:`adaptive_group_posteriors`).
    k : int, optional
        The known number of factors in which the two inputs differ (``0 <= k <= D_z``);
        ``None`` (default) estimates the shared dims per pair with the adaptive threshold.

    Diagnostics
    -----------
    ``elbo`` (sum of both mean bounds), ``log_likelihood_x1``, ``log_likelihood_x2``,
    ``kl_divergence_x1``, ``kl_divergence_x2``, ``elbo_unweighted`` (sum of both
    unweighted ELBOs; equals ``elbo`` when ``beta = 1``).
    """

    def __init__(self, vae: VAE, aggregation: Aggregation = "gvae", k: int | None = None) -> None:
        super().__init__()
        if not isinstance(vae, VAE):
            raise TypeError(f"vae must be a pyautoencoder VAE, got {type(vae).__name__}")
        if not vae.latent_posterior.is_diagonal_gaussian:
            raise ValueError(
                "AdaGVAE averages diagonal Gaussian posteriors dimension by dimension; the VAE "
                f"has a {type(vae.latent_posterior).__name__} (use posterior='diagonal')"
            )
        if aggregation not in ("gvae", "mlvae"):
            raise ValueError(f"aggregation must be 'gvae' or 'mlvae', got {aggregation!r}")
        if k is not None and (
            isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= vae.latent_dim
        ):
            raise ValueError(
                f"k must be None or an int in [0, latent_dim] = [0, {vae.latent_dim}], got {k!r}"
            )
        self.vae = vae
        self.aggregation: Aggregation = aggregation
        self.k = k

    def build(self, x: torch.Tensor) -> None:
        """Materialise the VAE's lazy layers from a batch of single inputs (not a pair)."""
        self.vae.build(x)

    @property
    def likelihood(self) -> Likelihood:
        """The inner VAE's likelihood ``p(x | z)`` (used when ``compute_loss`` gets none)."""
        return self.vae.likelihood

    @property
    def prior(self) -> D.Distribution:
        """The inner VAE's prior ``p(z)`` as a distribution, event shape ``[D_z]``."""
        return self.vae.prior

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        """``q(z | x)`` of single inputs ``x [B, ...]`` (no grouping): ``self.vae.posterior(x)``."""
        return self.vae.posterior(x)

    def encode(self, x: torch.Tensor, S: int = 1, sample: bool = False) -> VAEEncodeOutput:
        """Single inputs through the inner VAE, no grad: ``self.vae.encode``."""
        return self.vae.encode(x, S=S, sample=sample)

    def decode(self, z: torch.Tensor) -> VAEDecodeOutput:
        """``z [B, S, D_z]`` through the inner VAE's decoder, no grad: ``self.vae.decode``."""
        return cast(VAEDecodeOutput, self.vae.decode(z))

    def sample(self, num_samples: int) -> torch.Tensor:
        """Decoder outputs ``[num_samples, ...]`` for ``z ~ p(z)``: ``self.vae.sample``."""
        return self.vae.sample(num_samples)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder output ``[B, ...]`` at the posterior mean of single inputs (no grad)."""
        return self.vae.reconstruct(x)

    def _posterior_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Looked up at call time: users may swap vae.encoder or patch get_params.
        return self.vae.sampling_layer.get_params(self.vae.encoder(x))

    def _encode_pair(
        self, x1: torch.Tensor, x2: torch.Tensor, S: int = 1
    ) -> tuple[VAEEncodeOutput, VAEEncodeOutput]:
        """Adapted posteriors of both inputs and ``S`` samples from each (``[B, S, D_z]``)."""
        num_samples = check_num_samples(S, "S")
        x1, x2 = _unpack_pair((x1, x2))
        mu1, log_var1 = self._posterior_params(x1)
        mu2, log_var2 = self._posterior_params(x2)
        mu1, log_var1, mu2, log_var2 = adaptive_group_posteriors(
            mu1, log_var1, mu2, log_var2, self.aggregation, self.k
        )
        reparametrize = self.vae.sampling_layer.reparametrize
        z1 = reparametrize(mu1, log_var1, num_samples)
        z2 = reparametrize(mu2, log_var2, num_samples)
        return (
            VAEEncodeOutput(z=z1, mu=mu1, log_var=log_var1),
            VAEEncodeOutput(z=z2, mu=mu2, log_var=log_var2),
        )

    def forward(
        self, x: tuple[torch.Tensor, torch.Tensor] | Sequence[torch.Tensor], S: int = 1
    ) -> AdaGVAEOutput:
        """Training mode: grouped posteriors; eval mode: ``vae(x1, S)`` then ``vae(x2, S)``."""
        num_samples = check_num_samples(S, "S")
        x1, x2 = _unpack_pair(x)
        if not self.training:
            return AdaGVAEOutput(self.vae(x1, S=num_samples), self.vae(x2, S=num_samples))
        enc1, enc2 = self._encode_pair(x1, x2, S=num_samples)
        outputs = [
            VAEOutput(x_hat=self.vae._decode(enc.z).x_hat, z=enc.z, mu=enc.mu, log_var=enc.log_var)
            for enc in (enc1, enc2)
        ]
        return AdaGVAEOutput(output1=outputs[0], output2=outputs[1])

    def compute_loss(
        self,
        x: tuple[torch.Tensor, torch.Tensor] | Sequence[torch.Tensor],
        output: AdaGVAEOutput,
        beta: float | torch.Tensor = 1,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """Sum of the two VAE objectives on the adapted outputs.

        ``likelihood=None`` uses the VAE's own likelihood (``"gaussian"`` by default).
        """
        x1, x2 = _unpack_pair(x)
        result1 = self.vae.compute_loss(x1, output.output1, beta=beta, likelihood=likelihood)
        result2 = self.vae.compute_loss(x2, output.output2, beta=beta, likelihood=likelihood)
        d1, d2 = result1.diagnostics, result2.diagnostics
        return LossResult(
            objective=result1.objective + result2.objective,
            diagnostics={
                "elbo": d1["elbo"] + d2["elbo"],
                "log_likelihood_x1": d1["log_likelihood"],
                "log_likelihood_x2": d2["log_likelihood"],
                "kl_divergence_x1": d1["kl_divergence"],
                "kl_divergence_x2": d2["kl_divergence"],
                "elbo_unweighted": d1["elbo_unweighted"] + d2["elbo_unweighted"],
            },
        )
