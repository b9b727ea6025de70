r"""TopK sparse autoencoder (Makhzani & Frey 2013; Gao et al. 2024)."""

from __future__ import annotations

import torch

from .._validation import check_positive_int, check_weight
from ..loss._result import LossResult
from ..registry import register_model
from ._auxk import DeadLatentTracker, auxk_error, auxk_reconstruction
from ._dictionary import SparseDictionary, sparse_diagnostics, squared_error
from ._outputs import DictionaryEncodeOutput, TopKOutput

#: Gao et al. (2024), sec. A.2: a latent is dead after 10M tokens without firing.
DEFAULT_DEAD_AFTER = 10_000_000


def topk_activation(pre_activations: torch.Tensor, k: int) -> torch.Tensor:
    r"""Keep the ``k`` largest pre-activations of each example (then ReLU), zero the rest.

    ``z = ReLU(TopK_k(pi))``: ``[B, M] -> [B, M]`` with at most ``k`` non-zeros per row
    (exactly ``k`` when the ``k`` largest are positive). Ties are broken by ``torch.topk``.
    Gradients flow to the kept entries only.
    """
    return topk_with_counts(pre_activations, k)[0]


def topk_with_counts(pre_activations: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`topk_activation` and, per latent, on how many examples it is active ``[M]``.

    The counts come from the ``B k`` kept entries, not from a pass over ``[B, M]``.
    """
    values, indices = pre_activations.topk(k, dim=1)  # [B, k]
    kept = values.relu()
    z = torch.zeros_like(pre_activations).scatter_(1, indices, kept)
    return z, count_active(indices, kept, pre_activations.shape[1])


def count_active(indices: torch.Tensor, kept: torch.Tensor, num_latents: int) -> torch.Tensor:
    """How many of the kept entries ``kept`` (at latent ``indices``) are non-zero, per latent."""
    active = (kept != 0).to(kept.dtype).reshape(-1).detach()
    counts = torch.zeros(num_latents, dtype=kept.dtype, device=kept.device)
    return counts.index_add_(0, indices.reshape(-1), active)


def resolve_k_aux(k_aux: int | None, num_latents: int) -> int:
    """``k_aux`` or its default ``min(512, max(1, M // 2))``, checked to be ``<= M``."""
    if k_aux is None:
        return min(512, max(1, num_latents // 2))
    k_aux = check_positive_int(k_aux, "k_aux")
    if k_aux > num_latents:
        raise ValueError(f"k_aux must be <= num_latents = {num_latents}, got {k_aux}")
    return k_aux


def check_k(k: object, num_latents: int) -> int:
    """``k`` as an int in ``[1, M]``."""
    k = check_positive_int(k, "k")
    if k > num_latents:
        raise ValueError(f"k must be <= num_latents = {num_latents}, got {k}")
    return k


@register_model("topk_sae", latent="dictionary", latent_arg="num_latents")
class TopKSAE(SparseDictionary):
    r"""Sparse autoencoder whose code keeps the ``k`` largest pre-activations of each example.

    .. math::

        z = \mathrm{ReLU}(\mathrm{TopK}_k(W_{enc}(x - b_{dec}) + b_{enc})), \qquad
        \hat x = W_{dec} z + b_{dec},

        \mathcal{L} = \frac1B \sum_b \lVert x_b - \hat x_b \rVert^2
            + \alpha\, \mathcal{L}_{aux},

    the k-sparse autoencoder of Makhzani & Frey (2013, *k-Sparse Autoencoders*) in the form of
    Gao et al. (2024, *Scaling and evaluating sparse autoencoders*, sec. 2.3): pre-encoder bias
    ``b_dec``, unit-norm dictionary columns (see :class:`SparseDictionary`), and the auxiliary
    loss ``L_aux`` of :mod:`~pyautoencoder.dictionary` that revives dead latents (sec. A.2,
    ``alpha = 1/32``). Differences from the paper: the reconstruction term is the summed
    (not normalised) squared error, and ``L_aux`` is normalised by the residual energy.

    Shapes: ``x [B, D]`` (or ``[B, ...]`` with ``D`` features), ``z [B, M]``.
    Diagnostics (detached 0-dim): ``mse``, ``fvu``, ``l0``, ``aux_loss``, ``dead_fraction``.

    Parameters
    ----------
    input_dim : int
        ``D``.
    num_latents : int
        ``M``.
    k : int
        Active latents per example, ``1 <= k <= M`` (default 32).
    tied : bool
        Encoder weight tied to the dictionary's transpose (default ``False``).
    k_aux : int, optional
        Dead latents used by the auxiliary loss (default ``min(512, M // 2)``).
    aux_weight : float
        ``alpha`` >= 0 (default ``1/32``; 0 switches the auxiliary loss off).
    dead_after : int
        Training examples without activity after which a latent counts as dead
        (default 10,000,000, the paper's 10M tokens).
    """

    def __init__(
        self,
        input_dim: int,
        num_latents: int,
        *,
        k: int = 32,
        tied: bool = False,
        k_aux: int | None = None,
        aux_weight: float = 1.0 / 32.0,
        dead_after: int = DEFAULT_DEAD_AFTER,
    ) -> None:
        super().__init__(input_dim, num_latents, tied=tied)
        self.k = check_k(k, self.num_latents)
        self.k_aux = resolve_k_aux(k_aux, self.num_latents)
        self.aux_weight = float(check_weight(aux_weight, "aux_weight"))
        self.dead_latents = DeadLatentTracker(self.num_latents, dead_after)

    def activate(self, pre_activations: torch.Tensor) -> torch.Tensor:
        """The sparse code of pre-activations ``[B, M]``: :func:`topk_activation`."""
        return topk_activation(pre_activations, self.k)

    def _encode(self, x: torch.Tensor) -> DictionaryEncodeOutput:
        pre = self.pre_activations(self.flatten_input(x), self.dictionary())
        return DictionaryEncodeOutput(z=self.activate(pre), pre_activations=pre)

    def forward(self, x: torch.Tensor, update: bool | None = None) -> TopKOutput:
        """Encode and decode ``x``; ``update`` (default: ``self.training``) counts dead latents.

        ``x_hat`` has the shape of ``x``; ``z`` and ``pre_activations`` are ``[B, M]``;
        ``aux_x_hat [B, D]`` is the dead latents' reconstruction of the residual (AuxK).
        """
        dictionary = self.dictionary()
        pre = self.pre_activations(self.flatten_input(x), dictionary)  # [B, M]
        z, counts = topk_with_counts(pre, self.k)
        return self.finish_output(x, z, counts, pre, dictionary, update)

    def finish_output(
        self,
        x: torch.Tensor,
        z: torch.Tensor,
        counts: torch.Tensor,
        pre: torch.Tensor,
        dictionary: torch.Tensor,
        update: bool | None,
    ) -> TopKOutput:
        """Count dead latents (``update``, default ``self.training``), decode ``z`` and build
        the AuxK reconstruction."""
        if update is None:
            update = self.training
        if update:
            self.dead_latents.update_counts(counts, z.shape[0])
        x_hat = self.decode_linear(z, dictionary).reshape(x.shape)
        aux_x_hat = None
        if self.aux_weight > 0:
            dead = self.dead_latents.dead()
            aux_x_hat = auxk_reconstruction(pre, dead, dictionary, self.k_aux)
        return TopKOutput(
            x_hat=x_hat, z=z, pre_activations=pre, aux_x_hat=aux_x_hat, active_counts=counts
        )

    def compute_loss(self, x: torch.Tensor, output: TopKOutput) -> LossResult:
        """Mean squared error plus ``aux_weight * L_aux``; see the class docstring."""
        x_flat = self.flatten_input(x)
        x_hat = output.x_hat.reshape(x_flat.shape)
        error = squared_error(x_flat, x_hat)  # [B]
        dead = self.dead_latents.dead()
        objective = error.mean()
        l0 = output.active_counts.sum() / x_flat.shape[0]
        diagnostics = sparse_diagnostics(x_flat, error, l0)
        if output.aux_x_hat is not None:
            aux = auxk_error(x_flat - x_hat, output.aux_x_hat, dead)
            objective = objective + self.aux_weight * aux
            diagnostics["aux_loss"] = aux.detach()
        else:
            diagnostics["aux_loss"] = torch.zeros((), dtype=x_flat.dtype, device=x_flat.device)
        diagnostics["dead_fraction"] = dead.to(x_flat.dtype).mean()
        return LossResult(objective=objective, diagnostics=diagnostics)
