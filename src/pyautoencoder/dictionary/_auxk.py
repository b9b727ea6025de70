r"""Dead latents and the auxiliary TopK loss that revives them (Gao et al. 2024, sec. A.2).

A latent is *dead* when it has not been active (non-zero) in any of the last ``dead_after``
training examples. The auxiliary loss asks the ``k_aux`` largest pre-activations among the dead
latents to reconstruct the residual the live latents leave:

.. math::

    e = x - \hat x \ (\text{no gradient}), \qquad
    \hat e = W_{dec}\, \mathrm{TopK}_{k_{aux}}(\pi \odot \text{dead}), \qquad
    \mathcal{L}_{aux} = \frac{\sum_b \lVert e_b - \hat e_b \rVert^2}{\sum_b \lVert e_b \rVert^2},

added to the objective as ``alpha * L_aux`` (``alpha = 1/32`` in the paper). The paper writes
``L_aux = ||e - e_hat||^2``; dividing by the residual energy (as the authors' released code
does) makes ``alpha`` independent of the data's scale. Without dead latents the term is 0.
Gradients reach the dead latents' encoder rows and dictionary columns, which then fire again.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_positive_int


class DeadLatentTracker(nn.Module):
    """Counts, per latent, the training examples seen since it was last active.

    State is the buffer ``examples_since_active [M]`` (int64), saved with the model.

    Parameters
    ----------
    num_latents : int
        ``M``.
    dead_after : int
        A latent inactive for at least this many examples is dead.
    """

    examples_since_active: torch.Tensor

    def __init__(self, num_latents: int, dead_after: int) -> None:
        super().__init__()
        self.dead_after = check_positive_int(dead_after, "dead_after")
        self.register_buffer("examples_since_active", torch.zeros(num_latents, dtype=torch.long))

    @torch.no_grad()
    def update(self, z: torch.Tensor) -> None:
        """Reset the counter of latents active in ``z [B, M]``; add ``B`` to the others."""
        self.update_counts((z != 0).sum(dim=0), z.shape[0])

    @torch.no_grad()
    def update_counts(self, active_counts: torch.Tensor, num_examples: int) -> None:
        """As :meth:`update`, from the number of examples each latent was active on ``[M]``."""
        since = self.examples_since_active
        since.copy_(torch.where(active_counts > 0, torch.zeros_like(since), since + num_examples))

    def dead(self) -> torch.Tensor:
        """Boolean mask ``[M]`` of the dead latents."""
        return self.examples_since_active >= self.dead_after

    def extra_repr(self) -> str:
        return f"dead_after={self.dead_after}"


def auxk_reconstruction(
    pre_activations: torch.Tensor, dead: torch.Tensor, dictionary: torch.Tensor, k_aux: int
) -> torch.Tensor:
    """``e_hat = W_dec TopK_k_aux(pi restricted to the dead latents)``: ``[B, D]``.

    ``pre_activations [B, M]``, ``dead`` boolean ``[M]``, ``dictionary [D, M]``; live latents
    never take part (fewer dead latents than ``k_aux`` leave the rest at zero).
    """
    candidates = pre_activations.masked_fill(~dead, float("-inf"))  # [B, M]
    values, indices = candidates.topk(k_aux, dim=1)  # [B, k_aux]
    # relu maps the -inf of live latents (fewer dead than k_aux) and negative values to 0.
    z_aux = torch.zeros_like(pre_activations).scatter_(1, indices, values.relu())  # [B, M]
    return z_aux @ dictionary.T


def auxk_error(residual: torch.Tensor, aux_x_hat: torch.Tensor, dead: torch.Tensor) -> torch.Tensor:
    """``L_aux = sum ||e - e_hat||^2 / sum ||e||^2`` (0 without dead latents), 0-dim.

    ``residual`` is ``e = x - x_hat`` ``[B, D]`` (detached here), ``aux_x_hat`` the
    :func:`auxk_reconstruction` ``[B, D]``, ``dead`` boolean ``[M]``.
    """
    target = residual.detach()
    error = (target - aux_x_hat).pow(2).sum()
    energy = target.pow(2).sum().clamp_min(torch.finfo(target.dtype).tiny)
    return dead.any().to(error.dtype) * error / energy


def auxk_loss(
    residual: torch.Tensor,
    pre_activations: torch.Tensor,
    dead: torch.Tensor,
    dictionary: torch.Tensor,
    k_aux: int,
) -> torch.Tensor:
    """``L_aux`` of the module docstring (0-dim): :func:`auxk_error` of
    :func:`auxk_reconstruction`.

    Parameters
    ----------
    residual : torch.Tensor
        ``e = x - x_hat``, ``[B, D]``; detached here.
    pre_activations : torch.Tensor
        ``pi [B, M]``.
    dead : torch.Tensor
        Boolean ``[M]``.
    dictionary : torch.Tensor
        ``W_dec [D, M]``.
    k_aux : int
        How many dead latents reconstruct each example (``<= M``).
    """
    aux_x_hat = auxk_reconstruction(pre_activations, dead, dictionary, k_aux)
    return auxk_error(residual, aux_x_hat, dead)
