r"""Top-down hierarchical VAEs: the Ladder VAE and a residual (NVAE/VDVAE-style) model.

Both have ``L`` latent groups ``z_1`` (next to ``x``) ... ``z_L`` (top), a top-down prior

.. math::

    p(z) = p(z_L) \prod_{l<L} p(z_l \mid z_{>l}), \qquad p(z_L) = N(0, I),

and a posterior that runs top-down too, ``q(z | x) = q(z_L | x) \prod_{l<L} q(z_l | z_{>l}, x)``,
each factor a diagonal Gaussian that combines a bottom-up feature of ``x`` with the top-down
state. The ELBO is

.. math::

    \mathcal L(x) = \mathbb E_q[\log p(x \mid z)]
        - \sum_{l=1}^L \mathbb E_{q(z_{>l} \mid x)}
          \big[\mathrm{KL}(q(z_l \mid z_{>l}, x) \,\|\, p(z_l \mid z_{>l}))\big],

with each group's KL in closed form given the upper groups' samples (Sønderby et al. 2016,
eq. 15; Vahdat & Kautz 2020, eq. 2). The models implement the objective protocol of
:mod:`pyautoencoder.objectives` (``reconstruction_log_prob``, ``kl_per_dim``,
``posterior_log_prob``, ``prior_log_prob``), so :class:`~pyautoencoder.objectives.ELBO`,
:class:`~pyautoencoder.objectives.ImportanceWeightedBound`, MIWAE, CIWAE and CapacityELBO work
unchanged (``forward(x)`` draws the objective's ``num_samples``), and
:func:`~pyautoencoder.evaluation.log_likelihood_estimate` uses the full top-down posterior as
its proposal (:meth:`sample_log_terms`).
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import distributions as D
from torch import nn

from .._base import BaseAutoencoder
from .._base._model_output import ModelOutput
from .._validation import check_module, check_num_samples, check_positive_int
from ..distributions._likelihood import Likelihood, LikelihoodType, get_likelihood
from ..loss._result import LossResult
from ..loss._sampled import check_sampled_reconstruction, sampled_log_likelihood
from ..objectives._base import Objective
from ..objectives._elbo import ELBO
from ._gaussian_groups import (
    _gaussian_log_prob,
    gaussian_kl_per_dim,
)
from ._outputs import VAEDecodeOutput
from ._vae_base import OBJECTIVE_SAMPLES


@dataclass(slots=True, repr=False)
class HierarchicalOutput(ModelOutput):
    """A hierarchical VAE's pass: every group's sample and densities, groups concatenated.

    ``x_hat [B, S, ...]``; ``z, mu, log_var, kl [B, S, D]`` with ``D = sum(latent_dims)``
    (``z_1`` first; ``mu, log_var`` of ``q(z_l | z_{>l}, x)`` given the upper samples of the
    same row; ``kl`` each dimension's closed-form KL to ``p(z_l | z_{>l})``); ``log_q,
    log_p [B, S]``: ``log q(z | x)`` and ``log p(z)`` of the whole sample.
    """

    x_hat: torch.Tensor
    z: torch.Tensor
    mu: torch.Tensor
    log_var: torch.Tensor
    kl: torch.Tensor
    log_q: torch.Tensor
    log_p: torch.Tensor


@dataclass(slots=True, repr=False)
class HierarchicalEncodeOutput(ModelOutput):
    """``z, mu, log_var [B, S, D]`` of the top-down posterior (see :class:`HierarchicalOutput`)."""

    z: torch.Tensor
    mu: torch.Tensor
    log_var: torch.Tensor


def _group_sizes(latent_dims: int | Sequence[int], num_groups: int) -> list[int]:
    """The group sizes: a sequence as given (``z_1`` first), or ``num_groups`` times an int."""
    if isinstance(latent_dims, int) and not isinstance(latent_dims, bool):
        size = check_positive_int(latent_dims, "latent_dims")
        return [size] * check_positive_int(num_groups, "num_groups")
    if isinstance(latent_dims, str | bytes) or not isinstance(latent_dims, Sequence):
        raise TypeError(f"latent_dims must be an int or a sequence of ints, got {latent_dims!r}")
    if len(latent_dims) < 1:
        raise ValueError("latent_dims must hold at least one group size, got an empty sequence")
    return [check_positive_int(d, f"latent_dims[{i}]") for i, d in enumerate(latent_dims)]


def _unit_gain_linear(fan_in: int, fan_out: int) -> nn.Linear:
    """A linear map with ``N(0, 1 / fan_in)`` weights and zero bias: unit variance gain.

    PyTorch's default (uniform in ``+-1 / sqrt(fan_in)``) has variance ``1 / (3 fan_in)``, so
    every such map on the way from ``z`` to the decoder shrinks the sample's signal 3x; with
    two of them (``z -> state -> decoder``) a one-group :class:`HierarchicalVAE` trailed a
    :class:`VAE` by 4 nats after 10 epochs on MNIST, and equals it with this start.
    """
    layer = nn.Linear(fan_in, fan_out)
    nn.init.normal_(layer.weight, std=fan_in**-0.5)
    nn.init.zeros_(layer.bias)
    return layer


def _mlp(fan_in: int, hidden: int, fan_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(fan_in, hidden), nn.SiLU(), nn.Linear(hidden, fan_out))


class _TopDownCell(nn.Module):
    """One group's update of the top-down state (VDVAE's top-down block, Child 2021, fig. 3).

    ``s <- s + W z`` (the group's sample projected into the state), then the residual branch
    ``s <- s + MLP(s)``, whose last layer starts at zero (VDVAE initialises the last layer of
    every residual branch near zero so that a deep stack starts as the identity); ``W`` starts
    with unit variance gain (:func:`_unit_gain_linear`).
    """

    def __init__(self, latent: int, width: int) -> None:
        super().__init__()
        self.z_proj = _unit_gain_linear(latent, width)
        self.residual = _mlp(width, width, width)
        last = self.residual[-1]
        if isinstance(last, nn.Linear):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, state: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        state = state + self.z_proj(z)
        return state + self.residual(state)


@dataclass
class _GroupPass:
    """One group of a top-down pass: its sample, posterior and prior parameters."""

    z: torch.Tensor
    mu_q: torch.Tensor
    log_var_q: torch.Tensor
    mu_p: torch.Tensor
    log_var_p: torch.Tensor


class _TopDownVAE(BaseAutoencoder):
    """Shared machinery of the top-down models: bottom-up features, the top-down pass, the
    objective protocol, sampling and evaluation. Subclasses define how a group's posterior
    combines its bottom-up feature with the prior (:meth:`_posterior`), how the top-down state
    moves on (:meth:`_next_state`) and what the decoder reads (:meth:`_decoder_input`)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"posterior", "prior_sampling"})

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dims: int | Sequence[int],
        *,
        num_groups: int = 2,
        hidden_dim: int = 128,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        objective: Objective | None = None,
    ) -> None:
        super().__init__()
        check_module(encoder, "encoder")
        check_module(decoder, "decoder")
        self.latent_dims = _group_sizes(latent_dims, num_groups)
        self.latent_dim = sum(self.latent_dims)
        self.hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = get_likelihood(likelihood)
        self.objective = objective if objective is not None else ELBO()
        width = self.hidden_dim
        # p(z_l | state) for every group below the top (the top prior is N(0, I)).
        self.prior_heads = nn.ModuleList(self._prior_head(width, d) for d in self.latent_dims[:-1])

    # ------------------------------------------------------------------ subclass hooks
    def _prior_head(self, width: int, size: int) -> nn.Module:
        """``state [N, width] -> (mu, log_var) [N, 2 size]`` of ``p(z_l | state)``."""
        return nn.Linear(width, 2 * size)

    @abstractmethod
    def _posterior(
        self, group: int, state: torch.Tensor | None, feature: torch.Tensor,
        mu_p: torch.Tensor, log_var_p: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """``(mu_q, log_var_q)`` of group ``group`` from the state, its feature and prior."""

    @abstractmethod
    def _next_state(
        self, group: int, state: torch.Tensor | None, z: torch.Tensor
    ) -> torch.Tensor:  # fmt: skip
        """The top-down state after group ``group`` drew ``z``."""

    @abstractmethod
    def _decoder_input(self, state: torch.Tensor, z_bottom: torch.Tensor) -> torch.Tensor:
        """What the decoder reads after the bottom group."""

    @abstractmethod
    def _bottom_up(self, h: torch.Tensor) -> list[torch.Tensor]:
        """The bottom-up features ``h_1 .. h_L`` of the groups from the encoder's ``h``."""

    def _top_state(self, rows: int, like: torch.Tensor) -> torch.Tensor | None:
        return None

    # ------------------------------------------------------------------ passes
    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Bottom-up features ``h_1 .. h_L``, each ``[B, F_l]``."""
        h = self.encoder(x)
        if h.dim() != 2:
            raise ValueError(f"the encoder must return features [B, F], got {tuple(h.shape)}")
        return self._bottom_up(h)

    def _prior_params(
        self, group: int, state: torch.Tensor | None, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if group == len(self.latent_dims) - 1 or state is None:
            zeros = like.new_zeros(like.shape[0], self.latent_dims[group])
            return zeros, zeros
        mu, log_var = self.prior_heads[group](state).chunk(2, dim=-1)
        return mu, log_var

    def _top_down(
        self, features: list[torch.Tensor] | None, rows: int, like: torch.Tensor,
        sample: bool, given: list[torch.Tensor] | None = None,
    ) -> tuple[list[_GroupPass], torch.Tensor]:  # fmt: skip
        """Run the groups from the top. ``features`` (posterior) or ``None`` (prior); ``given``
        fixes the samples. Returns the groups (bottom first) and the decoder's input."""
        state = self._top_state(rows, like)
        passes: list[_GroupPass] = []
        for group in reversed(range(len(self.latent_dims))):
            mu_p, log_var_p = self._prior_params(group, state, like)
            if features is None:
                mu_q, log_var_q = mu_p, log_var_p
            else:
                mu_q, log_var_q = self._posterior(group, state, features[group], mu_p, log_var_p)
            if given is not None:
                z = given[group]
            elif sample:
                z = mu_q + torch.exp(0.5 * log_var_q) * torch.randn_like(mu_q)
            else:
                z = mu_q
            passes.append(_GroupPass(z, mu_q, log_var_q, mu_p, log_var_p))
            state = self._next_state(group, state, z)
        passes.reverse()
        final = passes[0].z if state is None else state  # subclasses always set a state
        return passes, self._decoder_input(final, passes[0].z)

    def _split(self, z: torch.Tensor) -> list[torch.Tensor]:
        return list(z.split(self.latent_dims, dim=-1))

    def _run(self, x: torch.Tensor, S: int, sample: bool) -> tuple[list[_GroupPass], torch.Tensor]:
        num_samples = check_num_samples(S, "S")
        features = self._features(x)
        if num_samples > 1:
            features = [h.repeat_interleave(num_samples, dim=0) for h in features]  # [B*S, H]
        return self._top_down(features, features[0].shape[0], features[0], sample)

    def forward(
        self, x: torch.Tensor, S: int = OBJECTIVE_SAMPLES, sample: bool = True
    ) -> HierarchicalOutput:
        """Encode top-down (``S`` samples per input, or the means with ``sample=False``) and
        decode. ``S`` defaults to the objective's ``num_samples`` (1 for the ELBO, ``K`` for
        an importance-weighted bound), as for :class:`~pyautoencoder.variational.VAE`.
        Shapes in :class:`HierarchicalOutput`."""
        if S is OBJECTIVE_SAMPLES:
            S = self.objective.num_samples if sample else 1
        batch, num_samples = x.shape[0], check_num_samples(S, "S")
        passes, decoder_input = self._run(x, num_samples, sample)
        flat = self.decoder(decoder_input)  # [B * S, ...]

        def per_sample(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, num_samples, *t.shape[1:])

        def cat(name: str) -> torch.Tensor:
            return per_sample(torch.cat([getattr(p, name) for p in passes], dim=-1))

        kl = torch.cat(
            [gaussian_kl_per_dim(p.mu_q, p.log_var_q, p.mu_p, p.log_var_p) for p in passes], -1
        )
        log_q = sum(_gaussian_log_prob(p.z, p.mu_q, p.log_var_q) for p in passes)
        log_p = sum(_gaussian_log_prob(p.z, p.mu_p, p.log_var_p) for p in passes)
        return HierarchicalOutput(
            x_hat=per_sample(flat),
            z=cat("z"),
            mu=cat("mu_q"),
            log_var=cat("log_var_q"),
            kl=per_sample(kl),
            log_q=per_sample(torch.as_tensor(log_q)),
            log_p=per_sample(torch.as_tensor(log_p)),
        )

    def _encode(self, x: torch.Tensor, S: int = 1, sample: bool = True) -> HierarchicalEncodeOutput:
        batch, num_samples = x.shape[0], check_num_samples(S, "S")
        passes, _ = self._run(x, num_samples, sample)

        def cat(name: str) -> torch.Tensor:
            joined = torch.cat([getattr(p, name) for p in passes], dim=-1)
            return joined.reshape(batch, num_samples, -1)

        return HierarchicalEncodeOutput(z=cat("z"), mu=cat("mu_q"), log_var=cat("log_var_q"))

    def encode(self, x: torch.Tensor, S: int = 1, sample: bool = False) -> HierarchicalEncodeOutput:
        """The top-down posterior's means (default) or ``S`` samples, ``z [B, S, D]``."""
        with torch.no_grad():
            return self._encode(x, S=S, sample=sample)

    def _decode(self, z: torch.Tensor) -> VAEDecodeOutput:
        """Decode ``z [B, S, D]`` (all groups given) into ``x_hat [B, S, ...]``."""
        if z.dim() != 3 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape [B, S, D] with D = sum(latent_dims) = {self.latent_dim}, "
                f"got {tuple(z.shape)}"
            )
        batch, num_samples = z.shape[:2]
        flat = z.reshape(batch * num_samples, self.latent_dim)
        _, decoder_input = self._top_down(None, flat.shape[0], flat, True, self._split(flat))
        x_hat = self.decoder(decoder_input)
        return VAEDecodeOutput(x_hat=x_hat.reshape(batch, num_samples, *x_hat.shape[1:]))

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        self(input_sample, sample=False)

    # ------------------------------------------------------------------ sampling and views
    def sample(self, num_samples: int) -> torch.Tensor:
        """Decoder outputs ``[num_samples, ...]`` for ancestral draws ``z_L, ..., z_1`` from
        the top-down prior (no grad)."""
        count = check_num_samples(num_samples, "num_samples")
        like = next(self.parameters())
        with torch.no_grad():
            template = like.new_zeros(count, 1)
            _, decoder_input = self._top_down(None, count, template, True)
            return self.decoder(decoder_input)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder output ``[B, ...]`` along the posterior's mean path (no grad)."""
        with torch.no_grad():
            return self(x, sample=False).x_hat[:, 0]

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        """Every group's Gaussian along the mean path (upper groups at their means), as one
        distribution with event ``[D]``: for latent maps and active units. Log-likelihoods use
        the full top-down posterior (:meth:`sample_log_terms`)."""
        encoded = self._encode(x, S=1, sample=False)
        return D.Independent(D.Normal(encoded.mu[:, 0], torch.exp(0.5 * encoded.log_var[:, 0])), 1)

    @property
    def group_slices(self) -> list[slice]:
        """Where each group ``z_l`` sits in the concatenated ``[..., D]`` tensors."""
        bounds = [0, *itertools.accumulate(self.latent_dims)]
        return [slice(a, b) for a, b in itertools.pairwise(bounds)]

    # ------------------------------------------------------------------ objective protocol
    def resolve_likelihood(
        self, likelihood: LikelihoodType | str | Likelihood | None
    ) -> Likelihood:
        """``likelihood`` as an object; ``None`` means the model's own."""
        return self.likelihood if likelihood is None else get_likelihood(likelihood)

    def reconstruction_log_prob(
        self, x: torch.Tensor, output: HierarchicalOutput, likelihood: Any = None
    ) -> torch.Tensor:
        """Checked ``sum_features log p(x | z_s)``, ``[B, S]``."""
        spec = self.likelihood if likelihood is None else likelihood
        check_sampled_reconstruction(x, output.x_hat, spec)
        return sampled_log_likelihood(x, output.x_hat, self.resolve_likelihood(likelihood))

    def mean_reconstruction_log_prob(
        self, x: torch.Tensor, output: HierarchicalOutput, likelihood: Any = None
    ) -> torch.Tensor:
        """The mean of :meth:`reconstruction_log_prob` over inputs and samples, ``[]``."""
        return self.reconstruction_log_prob(x, output, likelihood).mean()

    def reconstruction_nll(
        self, x: torch.Tensor, output: HierarchicalOutput, likelihood: Any = None
    ) -> torch.Tensor:
        """Minus :meth:`reconstruction_log_prob` averaged over samples, ``[B]``."""
        return -self.reconstruction_log_prob(x, output, likelihood).mean(dim=1)

    def kl_per_dim(self, output: HierarchicalOutput) -> torch.Tensor:
        """Closed-form KL of every group's dimensions given the upper samples, ``[B, D]``
        (mean over the ``S`` samples)."""
        return output.kl.mean(dim=1)

    def posterior_log_prob(
        self, output: HierarchicalOutput, detach_params: bool = False
    ) -> torch.Tensor:
        """``log q(z | x) = sum_l log q(z_l | z_{>l}, x)`` at the samples, ``[B, S]``."""
        if detach_params:
            raise ValueError(
                f"{type(self).__name__} does not support the DReG gradient estimator (its "
                "posterior's parameters depend on the samples of upper groups); use 'iwae'"
            )
        return output.log_q

    def prior_log_prob(self, output: HierarchicalOutput) -> torch.Tensor:
        """``log p(z) = log p(z_L) + sum_{l<L} log p(z_l | z_{>l})`` at the samples, ``[B, S]``."""
        return output.log_p

    @property
    def latent_prior(self) -> Any:
        raise TypeError(
            f"{type(self).__name__} has no single prior object (its prior is top-down); "
            "objectives that need one (TotalCorrelation, MMDPenalty, PIWAE) do not apply: use "
            "ELBO, ImportanceWeightedBound, MIWAE, CIWAE or CapacityELBO"
        )

    def compute_loss(
        self,
        x: torch.Tensor,
        output: HierarchicalOutput,
        beta: float | torch.Tensor = 1,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """The objective (default: the ELBO), plus ``kl_group_<l>`` diagnostics (batch means,
        nats; ``l = 1`` next to ``x``)."""
        result = self.objective(self, x, output, beta=beta, likelihood=likelihood)
        kl = output.kl.detach().mean(dim=(0, 1))  # [D]
        groups = {f"kl_group_{g + 1}": kl[s].sum() for g, s in enumerate(self.group_slices)}
        return LossResult(objective=result.objective, diagnostics={**result.diagnostics, **groups})

    @torch.no_grad()
    def sample_log_terms(
        self, x: torch.Tensor, num_samples: int, likelihood: Likelihood
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(log p(x | z), log p(z), log q(z | x))``, each ``[B, num_samples]``, for
        ``num_samples`` draws of the full top-down posterior (importance sampling)."""
        output = self(x, S=num_samples)
        log_lik = sampled_log_likelihood(x, output.x_hat, likelihood)
        return log_lik, output.log_p, output.log_q
