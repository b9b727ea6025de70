"""Result objects of the likelihood-based estimators: per-example values and their summary."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

_LN_2 = math.log(2.0)


def mean_and_standard_error(values: torch.Tensor) -> tuple[float, float]:
    """Mean over examples and its standard error ``std / sqrt(N)`` (NaN for ``N = 1``)."""
    mean = float(values.mean())
    if values.numel() < 2:
        return mean, math.nan
    return mean, float(values.std(unbiased=True)) / math.sqrt(values.numel())


@dataclass(frozen=True)
class PerExampleEstimate:
    r"""A per-example quantity in nats and its summary over the data set.

    Attributes
    ----------
    values : torch.Tensor
        One value per example ``[N]`` (float64, CPU), in data order.
    mean : float
        ``values.mean()``.
    standard_error : float
        Standard error of the mean over examples, ``std(values) / sqrt(N)`` (unbiased
        ``std``); NaN when ``N = 1``. It measures the spread over the data set (plus the Monte
        Carlo noise of each value), i.e. how well ``mean`` estimates the population mean.
    num_dims : int
        ``D``, the number of scalars in one example (``x[0].numel()``).
    """

    values: torch.Tensor
    mean: float
    standard_error: float
    num_dims: int

    @classmethod
    def from_values(cls, values: torch.Tensor, num_dims: int) -> PerExampleEstimate:
        mean, standard_error = mean_and_standard_error(values)
        return cls(values=values, mean=mean, standard_error=standard_error, num_dims=num_dims)


@dataclass(frozen=True)
class LogLikelihoodEstimate(PerExampleEstimate):
    r"""Importance-sampled estimate of ``log p(x)`` (see :func:`log_likelihood_estimate`).

    Attributes
    ----------
    values, mean, standard_error, num_dims
        As in :class:`PerExampleEstimate`; ``values[n]`` is :math:`\hat{\mathcal L}_K(x_n)`.
    num_samples : int
        ``K``, the number of importance samples per example.
    effective_sample_size : torch.Tensor
        Kish's effective sample size of each example's importance weights ``[N]``,
        :math:`(\sum_k w_k)^2 / \sum_k w_k^2 \in [1, K]`. Values near 1 mean one sample
        dominates and the estimate is unreliable (the posterior is a poor proposal).
    """

    num_samples: int
    effective_sample_size: torch.Tensor

    @property
    def monte_carlo_standard_error(self) -> torch.Tensor:
        r"""Approximate Monte Carlo standard error of each example's estimate ``[N]``.

        By the delta method, :math:`\mathrm{sd}(\hat{\mathcal L}_K) \approx
        \sqrt{\mathrm{Var}(w) / (K\, \mathbb E[w]^2)}`, and with the empirical moments of the
        weights :math:`\mathrm{Var}(w)/\mathbb E[w]^2 \approx K/\mathrm{ESS} - 1`, giving
        :math:`\sqrt{1/\mathrm{ESS} - 1/K}`. It is itself a noisy estimate that is too
        small when the weights are heavy-tailed and a few large ones were never drawn.
        """
        return (1.0 / self.effective_sample_size - 1.0 / self.num_samples).clamp(min=0).sqrt()

    @property
    def bits_per_dim(self) -> float:
        r"""``-mean / (D ln 2)``: the negative log-likelihood in bits per data dimension.

        This is the discrete-data convention only when ``p(x | z)`` is a probability mass
        function (Bernoulli on binary data, categorical on pixel levels). For a density on
        data scaled to ``[0, 1]`` from ``2^b`` levels, the discrete value is this plus ``b``
        (``+ 8`` for 8-bit images, after uniform dequantisation); see ``docs/evaluation.md``.
        """
        return -self.mean / (self.num_dims * _LN_2)


@dataclass(frozen=True)
class ELBOEstimate(PerExampleEstimate):
    r"""The evidence lower bound per example (see :func:`elbo`).

    Attributes
    ----------
    values, mean, standard_error, num_dims
        As in :class:`PerExampleEstimate`; ``values = reconstruction - kl``.
    reconstruction : torch.Tensor
        :math:`\frac1S\sum_s \log p(x \mid z_s)`, ``z_s ~ q(z | x)``, per example ``[N]``.
    kl : torch.Tensor
        :math:`\mathrm{KL}(q(z \mid x) \,\|\, p(z))` per example ``[N]`` (closed form where
        ``torch.distributions`` registers it, else the Monte Carlo estimate with the same
        samples).
    num_samples : int
        ``S``, the number of posterior samples per example.
    """

    reconstruction: torch.Tensor
    kl: torch.Tensor
    num_samples: int

    @property
    def bits_per_dim(self) -> float:
        """``-mean / (D ln 2)``, an upper bound on the bits/dim of ``log p(x)``."""
        return -self.mean / (self.num_dims * _LN_2)


@dataclass(frozen=True)
class ActiveUnits:
    r"""Active latent units (Burda et al. 2016, Sec. 5.2).

    Attributes
    ----------
    variances : torch.Tensor
        :math:`A_d = \mathrm{Var}_x(\mathbb E_{q(z \mid x)}[z_d])` per latent dimension
        ``[D_z]`` (float64, unbiased over the ``N`` examples).
    active : torch.Tensor
        ``variances > threshold``, ``[D_z]`` bool.
    num_active : int
        ``active.sum()``.
    threshold : float
        The activity threshold (0.01 in the paper).
    """

    variances: torch.Tensor
    active: torch.Tensor
    num_active: int
    threshold: float
