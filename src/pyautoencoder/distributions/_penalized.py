r"""A likelihood plus a weighted image loss: structural or perceptual terms for any model.

Models train their reconstruction through their likelihood (``likelihood=`` of the VAE family
and the VQ-VAEs, ``compute_loss(..., likelihood=...)`` of the deterministic autoencoders), so
a loss that is added to the likelihood reaches all of them without a hand-written
``compute_loss``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from .._validation import check_weight
from ._likelihood import BernoulliLikelihood, Likelihood, LikelihoodType, get_likelihood
from ._likelihoods import ContinuousBernoulliLikelihood

#: Likelihoods whose decoder outputs are logits: the loss scores ``sigmoid(x_hat)``.
_LOGIT_LIKELIHOODS = (BernoulliLikelihood, ContinuousBernoulliLikelihood)


@runtime_checkable
class ReconstructionDistance(Protocol):
    """What :class:`PenalizedLikelihood` needs of a loss: ``distance(x_hat, x) -> [B]``.

    One non-negative distance per example, differentiable in ``x_hat``; the loss modules of
    :mod:`pyautoencoder.loss` (``MSSSIM``, ``LogCosh``, ``Perceptual``) have it.
    """

    def distance(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...


class PenalizedLikelihood(Likelihood):
    r"""A likelihood minus a weighted per-example loss: ``log p(x | x_hat) - w d(x_hat, x)``.

    Per example (summed over features, as every likelihood's :meth:`log_prob_sum`),

    .. math::

        \log \tilde p(x \mid \hat x) = \sum_j \log p(x_j \mid \hat x_j) - w\, d(\hat x, x),

    so a model that maximises its log-likelihood minimises ``-log p + w d``: the pixel term
    of ``base`` plus, e.g., ``1 - MS-SSIM`` (Wang et al. 2003; Zhao et al. 2017 train image
    restoration on this mix), a log-cosh term, or an LPIPS-style perceptual distance (Zhang et
    al. 2018; the reconstruction term of VQGAN, Esser et al. 2021, eq. 4, is L1 plus LPIPS).
    ``d`` is ``loss.distance(x_hat, x)`` on the inputs with every leading dimension folded into
    the batch (``[B, S, C, H, W]`` is scored as ``[B * S, C, H, W]``). For the Bernoulli-type
    likelihoods, whose decoder outputs are logits, the loss scores ``sigmoid(x_hat)``; bases
    whose ``x_hat`` is not shaped like ``x`` (a predicted scale, class logits) are refused.

    Not a normalised density: a model trained on it reports ``log_likelihood`` diagnostics
    that include the penalty, and ``log p(x)`` estimates need the plain likelihood (pass
    ``likelihood="gaussian"`` to :func:`~pyautoencoder.evaluation.log_likelihood_estimate`).
    The loss is a submodule, so a feature network inside it is saved with the model (and
    moves with it between devices). A loss with a network has no JSON config, so such a model
    is saved with :func:`~pyautoencoder.pretrained.save_pretrained` and rebuilt by hand.

    Parameters
    ----------
    base : str, LikelihoodType or Likelihood
        The pixel likelihood (``"gaussian"``, ``"bernoulli"``, ``"laplace"``, ...).
    loss : nn.Module
        Has ``distance(x_hat, x) -> [B]`` (:class:`ReconstructionDistance`):
        :class:`~pyautoencoder.loss.MSSSIM`, :class:`~pyautoencoder.loss.LogCosh`,
        :class:`~pyautoencoder.loss.Perceptual` or your own.
    weight : float
        ``w >= 0``, in nats per unit of distance. The distances above are of order 1 per image
        while a Gaussian log-likelihood sums over every pixel, so ``w`` of the order of the
        number of pixels balances the two (e.g. ``w = 0.2 * C * H * W`` for the mix
        ``L2 + 0.2 * MS-SSIM`` of per-pixel means).

    Examples
    --------
    >>> from pyautoencoder.loss import MSSSIM
    >>> ssim = MSSSIM(weights=(0.5, 0.5), window_size=5)  # two scales: images >= 10 x 10
    >>> likelihood = PenalizedLikelihood("gaussian", ssim, weight=100.0)
    >>> x = torch.rand(2, 1, 3, 16, 16)  # [B, S, C, H, W]
    >>> likelihood.log_prob_sum(x, x.flip(-1), start_dim=2).shape
    torch.Size([2, 1])

    On a model: ``VAE(encoder, decoder, latent_dim, likelihood=likelihood)``,
    ``VQGAN(..., likelihood=likelihood)``; a deterministic autoencoder takes it per call,
    ``fit(ae, data, loss_kwargs={"likelihood": likelihood})``.
    """

    def __init__(
        self,
        base: LikelihoodType | str | Likelihood,
        loss: nn.Module,
        weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.base = get_likelihood(base)
        if self.base.x_hat_shape((2, 3)) != (2, 3):
            raise ValueError(
                f"base must be a likelihood whose x_hat is shaped like x (gaussian, bernoulli, "
                f"laplace, ...), got {type(self.base).__name__}"
            )
        self._logits = isinstance(self.base, _LOGIT_LIKELIHOODS)
        if not isinstance(loss, nn.Module) or not isinstance(loss, ReconstructionDistance):
            raise TypeError(
                "loss must be an nn.Module with distance(x_hat, x) -> [B] (MSSSIM, LogCosh, "
                f"Perceptual from pyautoencoder.loss), got {type(loss).__name__}"
            )
        self.loss = loss
        self.weight = float(check_weight(weight, "weight"))

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Not defined elementwise (the loss scores whole examples): raises ``TypeError``."""
        raise TypeError(
            "PenalizedLikelihood has no elementwise log-density (its loss scores whole "
            "examples); use log_prob_sum(x, x_hat, start_dim)"
        )

    def log_prob_sum(self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int) -> torch.Tensor:
        """``base.log_prob_sum - weight * distance``, ``[B, S]`` (``start_dim=2``) or ``[B]``."""
        log_lik = self.base.log_prob_sum(x, x_hat, start_dim)  # [*lead]
        lead = x_hat.shape[:start_dim]
        example = x_hat.shape[start_dim:]
        images = torch.sigmoid(x_hat) if self._logits else x_hat
        distance = self.loss.distance(
            images.reshape(-1, *example), x.reshape(-1, *example)
        )  # [prod(lead)]
        return log_lik - self.weight * distance.reshape(lead)

    def x_hat_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        return self.base.x_hat_shape(x_shape)

    def check_shapes(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        self.base.check_shapes(x, x_hat)

    def check_support(self, x: torch.Tensor) -> None:
        self.base.check_support(x)

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
