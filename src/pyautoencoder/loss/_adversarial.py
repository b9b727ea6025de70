r"""Adversarial losses on discriminator logits and the density-ratio estimate of the total
correlation.

A discriminator returns logits ``l = log D / (1 - D)``, ``D`` the probability that its input
is "real". With the logistic (cross-entropy) loss of Goodfellow et al. (2014, eq. 1)

.. math::

    \mathcal{L}_D = \tfrac12\big(\mathbb{E}_{\text{real}}[\operatorname{softplus}(-l)]
        + \mathbb{E}_{\text{fake}}[\operatorname{softplus}(l)]\big),

the optimal discriminator's logit is the log density ratio
``l*(z) = log p_real(z) - log p_fake(z)`` (Goodfellow et al. 2014, Prop. 1; Sugiyama et al.
2012 for the density-ratio trick). ``softplus(-l) = -log sigmoid(l)`` is evaluated in the
stable form of :func:`torch.nn.functional.softplus`.

FactorVAE (Kim & Mnih 2018, Sec. 3) takes "real" = codes ``z ~ q(z)`` and "fake" = the same
codes with every dimension permuted independently across the batch (samples of
``prod_j q(z_j)``, their Algorithm 1), so that

.. math::

    \mathrm{TC}(z) = \mathrm{KL}\big(q(z) \,\|\, \textstyle\prod_j q(z_j)\big)
        = \mathbb{E}_{q(z)}\Big[\log \frac{q(z)}{\prod_j q(z_j)}\Big]
        \approx \mathbb{E}_{q(z)}[l(z)].
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .._validation import check_tensor


def _check_logits(logits: torch.Tensor, name: str) -> None:
    check_tensor(logits, name)
    if logits.dim() != 1 or not logits.dtype.is_floating_point:
        raise ValueError(
            f"{name} must be floating-point logits of shape [B], got "
            f"{tuple(logits.shape)} {logits.dtype}"
        )


def logistic_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """``0.5 * (mean softplus(-real) + mean softplus(fake))``: cross-entropy with labels 1/0.

    Parameters
    ----------
    real_logits : Tensor ``[B]``
        Logits on samples the discriminator should call real.
    fake_logits : Tensor ``[B']``
        Logits on samples it should call fake.

    Returns
    -------
    Tensor
        0-dim loss (mean over each batch, then over the two halves).
    """
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    return 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())


def non_saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean softplus(-fake) = -mean log D(fake)``: the generator's non-saturating loss.

    Goodfellow et al. (2014, Sec. 3): maximise ``log D(G(z))`` rather than minimise
    ``log(1 - D(G(z)))``, which has stronger gradients while the discriminator wins.
    """
    _check_logits(fake_logits, "fake_logits")
    return F.softplus(-fake_logits).mean()


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Permute every latent dimension independently across the batch (Kim & Mnih 2018, Alg. 1).

    Parameters
    ----------
    z : Tensor ``[B, D_z]``
        Codes drawn from ``q(z)``.

    Returns
    -------
    Tensor ``[B, D_z]``
        ``out[b, j] = z[pi_j(b), j]`` with independent uniform permutations ``pi_j`` (drawn
        from the global RNG): each column keeps its values, the dependence between columns is
        broken, so the rows are samples of ``prod_j q(z_j)``.
    """
    check_tensor(z, "z")
    if z.dim() != 2:
        raise ValueError(f"z must have shape [B, D_z], got {tuple(z.shape)}")
    # argsort of uniform noise: an independent uniform permutation per column.
    order = torch.argsort(torch.rand(z.shape, device=z.device), dim=0)  # [B, D_z]
    return torch.gather(z, 0, order)


def density_ratio_tc(logits: torch.Tensor) -> torch.Tensor:
    """Total correlation by the density-ratio trick: ``mean_b l(z_b)`` (Kim & Mnih 2018, eq. 3).

    Parameters
    ----------
    logits : Tensor ``[B]``
        The discriminator's logits ``log D / (1 - D)`` at codes ``z_b ~ q(z)``, where ``D``
        tells ``q(z)`` (label 1) from ``prod_j q(z_j)`` (label 0).

    Returns
    -------
    Tensor
        0-dim estimate of ``TC(z)``; exact in expectation at the optimal discriminator.
    """
    _check_logits(logits, "logits")
    return logits.mean()


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``0.5 * (mean relu(1 - real) + mean relu(1 + fake))``: the hinge loss of a critic.

    Lim & Ye (2017), Miyato et al. (2018); used by VQGAN (Esser et al. 2021). The generator's
    counterpart is ``-mean(fake)`` (:func:`hinge_generator_loss`).
    """
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean(fake)``: the generator loss paired with :func:`hinge_discriminator_loss`."""
    _check_logits(fake_logits, "fake_logits")
    return -fake_logits.mean()


def adaptive_adversarial_weight(
    reconstruction_loss: torch.Tensor,
    generator_loss: torch.Tensor,
    last_layer: torch.Tensor,
    *,
    eps: float = 1e-4,
    max_weight: float = 1e4,
) -> torch.Tensor:
    r"""VQGAN's adaptive weight of the adversarial term (Esser, Rombach & Ommer 2021, eq. 7).

    .. math::

        \lambda = \frac{\lVert \nabla_{G_L} \mathcal{L}_{rec} \rVert_2}
            {\lVert \nabla_{G_L} \mathcal{L}_{GAN} \rVert_2 + \delta},

    with ``G_L`` the decoder's last layer, clamped to ``[0, max_weight]`` and detached (the
    weight is a coefficient, not a term to differentiate). The paper writes ``delta = 1e-6``;
    its public training code uses ``1e-4`` and the clamp at ``1e4``, the defaults here.

    Parameters
    ----------
    reconstruction_loss, generator_loss : Tensor
        0-dim losses whose graphs reach ``last_layer`` (kept: ``retain_graph=True``).
    last_layer : Tensor
        The weight of the decoder's last layer (a leaf that requires grad).

    Returns
    -------
    Tensor
        0-dim detached weight.
    """
    check_tensor(last_layer, "last_layer")
    if not last_layer.requires_grad:
        raise ValueError("last_layer must require grad (the decoder's last weight)")
    rec_grad = torch.autograd.grad(reconstruction_loss, last_layer, retain_graph=True)[0]
    gan_grad = torch.autograd.grad(generator_loss, last_layer, retain_graph=True)[0]
    weight = torch.linalg.vector_norm(rec_grad) / (torch.linalg.vector_norm(gan_grad) + eps)
    return weight.clamp(0.0, max_weight).detach()
