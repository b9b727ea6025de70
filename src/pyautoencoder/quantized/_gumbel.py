r"""Gumbel-softmax quantization (Jang, Gu & Poole 2017; the dVAE of DALL-E)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive_int, check_weight
from ._helpers import check_bool, check_real, flatten_codes, unflatten_codes
from ._protocol import Quantizer, QuantizerOutput


def gumbel_softmax(logits: torch.Tensor, tau: torch.Tensor, hard: bool) -> torch.Tensor:
    """``softmax((logits + g) / tau)`` with ``g ~ Gumbel(0, 1)`` i.i.d. (Jang et al. 2017, eq. 2).

    ``g = -log(E)`` with ``E ~ Exp(1)``. With ``hard`` the value is the one-hot ``argmax`` and
    the gradient that of the soft weights (straight-through). ``tau`` may be a tensor (the
    schedule), so that a changing temperature does not recompile a compiled step.
    """
    gumbels = -torch.empty_like(logits).exponential_().log()
    soft = torch.softmax((logits + gumbels) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = F.one_hot(soft.detach().argmax(dim=-1), logits.shape[-1]).to(soft.dtype)
    return one_hot + (soft - soft.detach())


class GumbelQuantizer(Quantizer):
    r"""Choose a code by sampling a relaxed categorical over ``K`` codes (Gumbel-softmax).

    Jang, Gu & Poole (2017), *Categorical reparameterization with Gumbel-softmax* (eq. 1-2,
    the annealing schedule of section 4.1), and the discrete VAE of DALL-E (Ramesh et al.
    2021, section 2.1): a linear map turns each input vector into logits ``l [K]``; in a
    sampling call the weights over codes are ``y = softmax((l + g) / tau)`` with Gumbel noise
    ``g``, and ``z_q = y E`` for a learned code table ``E [K, D]``. With ``hard=True`` the
    forward value is the one-hot ``argmax`` (straight-through: the gradient of the soft ``y``).
    Without sampling (eval) ``z_q = E[argmax l]``. The loss is the KL from the code posterior
    ``q = softmax(l)`` to the uniform prior, summed over positions and averaged over the
    batch, times ``kl_weight``:

    .. math::

        \mathrm{KL}(q \,\|\, \mathcal U_K) = \sum_k q_k \log q_k + \log K.

    **Temperature schedule**: ``tau_t = max(min_temperature, temperature * exp(-anneal_rate *
    t))`` with ``t`` the number of updating calls so far (a buffer ``step``; computed on the
    device, no host synchronisation); ``anneal_rate = 0`` keeps ``tau`` fixed.

    Parameters
    ----------
    num_codes : int
        ``K``.
    dim : int
        Input channels ``D`` (the codes have the same size).
    temperature : float
        Initial ``tau`` (default 1).
    min_temperature : float
        Floor of the schedule (default 0.5, as Jang et al.).
    anneal_rate : float
        ``r >= 0`` of the schedule, per updating call (default 0: constant).
    kl_weight : float
        Weight of the KL to the uniform prior (default ``5e-4``; DALL-E anneals it up to
        6.6 per image position, a choice for long training runs).
    hard : bool
        Straight-through one-hot samples (default ``True``).

    Diagnostics
    -----------
    ``kl_to_uniform`` (per example), ``temperature``, ``perplexity``, ``codes_used``.
    """

    step: torch.Tensor

    def __init__(
        self,
        num_codes: int,
        dim: int,
        *,
        temperature: float = 1.0,
        min_temperature: float = 0.5,
        anneal_rate: float = 0.0,
        kl_weight: float = 5e-4,
        hard: bool = True,
    ) -> None:
        super().__init__()
        self.num_codes = check_positive_int(num_codes, "num_codes")
        self.dim = check_positive_int(dim, "dim")
        positive = (0.0, float("inf"), "(0, inf)")
        self.temperature = check_real(temperature, "temperature", *positive, lower_open=True)
        self.min_temperature = check_real(
            min_temperature, "min_temperature", *positive, lower_open=True
        )
        self.anneal_rate = check_real(anneal_rate, "anneal_rate", 0.0, float("inf"), "[0, inf)")
        self.kl_weight = float(check_weight(kl_weight, "kl_weight"))
        self.hard = check_bool(hard, "hard")
        self.to_logits = nn.Linear(self.dim, self.num_codes)
        self.embedding = nn.Embedding(self.num_codes, self.dim)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return f"num_codes={self.num_codes}, dim={self.dim}, hard={self.hard}"

    def reset_parameters(self) -> None:
        """Re-draw the logit map and the code table."""
        self.to_logits.reset_parameters()
        self.embedding.reset_parameters()

    def current_temperature(self) -> torch.Tensor:
        """``tau_t`` of the schedule at the current ``step`` (0-dim tensor)."""
        decayed = self.temperature * torch.exp(-self.anneal_rate * self.step.float())
        return decayed.clamp_min(self.min_temperature)

    def forward(
        self, z: torch.Tensor, update: bool | None = None, sample: bool | None = None
    ) -> QuantizerOutput:
        """Quantise ``z [B, D, *S]``.

        ``update`` (default ``self.training``) advances the temperature schedule; ``sample``
        (default: as ``update``) draws Gumbel-softmax weights instead of the ``argmax`` code.
        """
        self.check_input(z)
        update = self._updates(update)
        sample = update if sample is None else bool(sample)
        logits = self.to_logits(flatten_codes(z))  # [N, K]
        tau = self.current_temperature().to(logits.dtype)
        log_q = torch.log_softmax(logits, dim=1)
        if sample:
            weights = gumbel_softmax(logits, tau, self.hard)  # [N, K]
            indices = weights.detach().argmax(dim=1)
            chosen = weights @ self.embedding.weight.to(weights.dtype)  # [N, D]
        else:
            indices = logits.detach().argmax(dim=1)
            chosen = self.embedding(indices).to(z.dtype)
        if update:
            with torch.no_grad():
                self.step.add_(1)
        kl = (log_q.exp() * log_q).sum(dim=1) + math.log(self.num_codes)  # [N]
        kl_per_example = kl.reshape(z.shape[0], -1).sum(dim=1).mean()
        indices = indices.reshape(z.shape[0], *z.shape[2:])
        diagnostics = {
            "kl_to_uniform": kl_per_example.detach(),
            "temperature": tau.detach(),
            **self.batch_usage(indices),
        }
        return QuantizerOutput(
            z_q=unflatten_codes(chosen, z),
            indices=indices,
            loss=self.kl_weight * kl_per_example,
            diagnostics=diagnostics,
        )

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Code-table rows for ``indices [B, *S]`` -> ``[B, D, *S]`` (``[B, D]`` for ``[B]``)."""
        indices = self.check_indices(indices)
        codes = self.embedding(indices)
        return codes.movedim(-1, 1) if indices.dim() > 1 else codes
