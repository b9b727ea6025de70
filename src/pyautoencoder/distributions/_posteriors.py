r"""Posteriors ``q(z | x)`` as objects: the protocol, the Gaussian families and their registry.

Every posterior of the VAE family starts from the diagonal Gaussian head of the model's
sampling layer, ``mu, log_var [B, D_z]`` computed from the encoder features ``h [B, F]``,
and turns it into samples ``z [B, S, D_z]`` with their log-density ``log q(z_s | x)``:

* :class:`DiagonalGaussianPosterior` (the default, 2.x): ``z = mu + exp(log_var / 2) * eps``;
* :class:`FullCovarianceGaussianPosterior`: ``z = mu + L eps`` with a Cholesky factor ``L``
  whose strictly lower part comes from a head of its own;
* the normalizing flows of :mod:`pyautoencoder.distributions._flows` (planar, radial,
  inverse autoregressive): ``z = f_K(... f_1(mu + sigma * eps))``.

A posterior is an ``nn.Module`` handed to the model (``VAE(..., posterior="iaf:4")`` or an
object); the model calls :meth:`Posterior.bind` with its ``latent_dim``, which creates the
posterior's parameters. Names are registered with :func:`register_posterior`;
:func:`get_posterior` reads ``"name"`` or ``"name:K"`` (``K`` flows).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar

import torch
from torch import distributions as D
from torch import nn

from .._registry import Registry
from .._validation import check_positive_int

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class PosteriorSample(NamedTuple):
    """What :meth:`Posterior.rsample` returns.

    ``z [B, S, D_z]`` the final samples; ``log_q [B, S]`` their log-density ``log q(z_s | x)``
    including every flow's log-determinant (``None`` for the diagonal Gaussian, whose density
    follows from ``mu, log_var, z`` and is only computed when asked for); ``scale_tril
    [B, D_z, D_z]`` the Cholesky factor of a full-covariance posterior, else ``None``.
    """

    z: torch.Tensor
    log_q: torch.Tensor | None
    scale_tril: torch.Tensor | None


class EncodedPosterior(Protocol):
    """What a posterior reads back from a model output (``VAEOutput`` / ``VAEEncodeOutput``).

    ``z [B, S, D_z]`` and ``mu, log_var [B, D_z]``; outputs of non-diagonal posteriors
    (``PosteriorOutput``) also have ``log_q [B, S]`` and ``scale_tril [B, D_z, D_z]``,
    read with ``getattr(encoded, name, None)``.
    """

    z: torch.Tensor
    mu: torch.Tensor
    log_var: torch.Tensor


def diagonal_gaussian_draw(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """One reparameterised draw per input, ``mu + exp(0.5 log_var) * eps``, shape of ``mu``.

    ``eps ~ N(0, I)`` from the global RNG with the dtype and device of ``mu``: the ``S = 1``
    draw of :class:`DiagonalGaussianPosterior` (and of the VAE's plain step), ``[B, D_z]``.
    """
    # ``randn_like`` in the contiguous layout draws the numbers ``randn(mu.shape, dtype=...,
    # device=...)`` draws, in the same places, with less argument parsing (a training step
    # pays for it: ~2 us per call on CPU).
    eps = torch.randn_like(mu, memory_format=torch.contiguous_format)
    return mu + torch.exp(0.5 * log_var) * eps


def standard_normal_noise(mu: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``eps ~ N(0, I)`` ``[B, S, D_z]`` from the global RNG, dtype and device of ``mu [B, D_z]``.

    Latent maps ``mu [B, C, h, w]`` give ``[B, S, C, h, w]``.

    For ``S = 1`` the draw is ``[B, D_z]`` unsqueezed: the generator yields the same numbers
    either way, so this is the stream of the 2.x sampling layer.
    """
    if num_samples == 1:
        return torch.randn(mu.shape, dtype=mu.dtype, device=mu.device).unsqueeze(1)
    # [B, S, *event]: latent maps ([B, C, h, w]) draw [B, S, C, h, w]
    return torch.randn(mu.shape[0], num_samples, *mu.shape[1:], dtype=mu.dtype, device=mu.device)


def diagonal_gaussian_log_density(
    z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    r"""Elementwise ``log N(z; mu, exp(log_var))`` with broadcasting, no reduction.

    ``-0.5 * ((z - mu)^2 exp(-log_var) + log_var + log 2 pi)``; the variance is never
    exponentiated on its own (no overflow for large ``log_var``).
    """
    return -0.5 * ((z - mu).square() * torch.exp(-log_var) + log_var) - _HALF_LOG_2PI


def posterior_log_prob(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``log q(z_s | x)`` summed over ``D_z``: ``z [B, S, D_z]`` and ``mu, log_var [B, D_z]``.

    Returns ``[B, S]``.
    """
    return diagonal_gaussian_log_density(z, mu.unsqueeze(1), log_var.unsqueeze(1)).sum(dim=-1)


def standard_normal_log_density(eps: torch.Tensor) -> torch.Tensor:
    """``log N(eps; 0, I)`` summed over the last dimension: ``[..., D] -> [...]``."""
    return -0.5 * eps.square().sum(dim=-1) - eps.shape[-1] * _HALF_LOG_2PI


class Posterior(nn.Module, ABC):
    r"""Base class of the posteriors ``q(z | x)`` of the VAE family.

    Subclasses implement :meth:`rsample` (samples and their log-density, by
    reparameterisation), :meth:`log_prob` (the log-density at a model output's samples) and
    :meth:`distribution` (``q(z | x)`` as a ``torch.distributions`` object, for the
    evaluation functions), and create their parameters in :meth:`_build`. The inputs are the
    encoder features ``h [B, F]`` and the base Gaussian's ``mu, log_var [B, D_z]``.

    Class attributes: ``name`` (registry name), ``is_diagonal_gaussian`` (``q`` is
    ``N(mu, diag(exp(log_var)))``; objectives that need the moments check it),
    ``has_density`` (:meth:`log_prob` can stop gradients on the parameters only, as DReG
    needs: the density can be evaluated at any ``z``) and ``code_is_mu`` (``mu`` is the
    posterior's mean, the deterministic code; a flow's code is ``f(mu)``, the ``z`` of
    ``sample=False``).
    """

    name: ClassVar[str] = ""
    is_diagonal_gaussian: ClassVar[bool] = False
    has_density: ClassVar[bool] = True
    code_is_mu: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim: int | None = None

    def bind(self, latent_dim: int) -> None:
        """Fix ``D_z`` (called by the model that owns the posterior) and create the parameters.

        Raises ``ValueError`` if the posterior is already bound to another ``latent_dim``.
        """
        latent_dim = check_positive_int(latent_dim, "latent_dim")
        if self.latent_dim is not None:
            if self.latent_dim != latent_dim:
                raise ValueError(
                    f"this {type(self).__name__} belongs to a model with latent_dim = "
                    f"{self.latent_dim}, got latent_dim = {latent_dim}; create a new posterior"
                )
            return
        self.latent_dim = latent_dim
        self._build(latent_dim)

    def _build(self, latent_dim: int) -> None:
        """Create the parameters for ``D_z = latent_dim`` (none by default)."""

    @abstractmethod
    def rsample(
        self,
        h: torch.Tensor,
        mu: torch.Tensor,
        log_var: torch.Tensor,
        num_samples: int = 1,
        sample: bool = True,
    ) -> PosteriorSample:
        """``num_samples`` reparameterised draws (``sample=False``: one deterministic point)."""

    @abstractmethod
    def log_prob(self, encoded: EncodedPosterior, detach_params: bool = False) -> torch.Tensor:
        """``log q(z_s | x)`` ``[B, S]`` at ``encoded.z`` (the model's own samples).

        ``detach_params=True`` stops the gradient through the posterior's parameters but not
        through ``z`` (the DReG estimator of Tucker et al. 2019).
        """

    @abstractmethod
    def distribution(
        self, h: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
    ) -> D.Distribution:
        """``q(z | x)`` with batch shape ``[B]`` and event shape ``[D_z]``."""

    def config(self) -> dict[str, Any]:
        """The JSON-able constructor arguments, with the registry ``name``."""
        return {"name": self.name}

    def spec(self) -> str:
        """The short name :func:`get_posterior` reads back (``"diagonal"``, ``"iaf:4"``)."""
        return self.name


_P = TypeVar("_P", bound=type[Posterior])
#: The posterior classes by name (``"diagonal"``, ``"full"``, ``"planar"``, ...).
POSTERIORS: Registry[type[Posterior]] = Registry("posterior")


def register_posterior(name: str) -> Callable[[_P], _P]:
    """Class decorator making a :class:`Posterior` available by ``name`` (case-insensitive).

    The class must be constructible without arguments; a class with a ``num_flows``
    argument also reads ``"name:K"``.
    """

    def decorator(cls: _P) -> _P:
        POSTERIORS.register(name, cls)
        cls.name = name.lower()
        return cls

    return decorator


def available_posteriors() -> list[str]:
    """The registered posterior names, sorted."""
    return POSTERIORS.names()


def _posterior_class(name: str) -> type[Posterior]:
    return POSTERIORS.get(name)


def _parse_spec(spec: str) -> Posterior:
    name, sep, count = spec.partition(":")
    cls = _posterior_class(name.strip())
    if not sep:
        return cls()
    if not getattr(cls, "takes_num_flows", False):
        raise ValueError(
            f"posterior {spec!r}: ':K' (the number of flows) only applies to flows, and "
            f"{cls.name!r} is not one; write {cls.name!r}"
        )
    try:
        num_flows = int(count)
    except ValueError:
        num_flows = 0
    if num_flows < 1 or str(num_flows) != count.strip():
        raise ValueError(
            f"posterior {spec!r}: the number of flows after ':' must be an integer >= 1, "
            f"got {count!r}"
        )
    return cls(num_flows=num_flows)  # type: ignore[call-arg]


def get_posterior(posterior: object, latent_dim: int) -> Posterior:
    """Resolve ``None`` (diagonal), a spec (``"iaf:4"``), a config dict or a :class:`Posterior`.

    The result is bound to ``latent_dim``.

    Raises
    ------
    ValueError
        Unknown name (with close matches), a malformed ``":K"``, or a posterior bound to
        another ``latent_dim``.
    TypeError
        Any other value.
    """
    if posterior is None:
        resolved: Posterior = DiagonalGaussianPosterior()
    elif isinstance(posterior, str):
        resolved = _parse_spec(posterior)
    elif isinstance(posterior, dict):
        options = dict(posterior)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(f"a posterior config needs a 'name' string, got {posterior!r}")
        try:
            resolved = _posterior_class(name)(**options)
        except TypeError as error:
            raise ValueError(f"invalid posterior config {posterior!r}: {error}") from error
    elif isinstance(posterior, Posterior):
        resolved = posterior
    else:
        raise TypeError(
            "posterior must be None, a registered name such as 'diagonal' or 'iaf:4', a config "
            f"dict or a Posterior, got {type(posterior).__name__}"
        )
    resolved.bind(latent_dim)
    return resolved


@register_posterior("diagonal")
class DiagonalGaussianPosterior(Posterior):
    r"""``q(z | x) = N(mu, diag(exp(log_var)))``, the 2.x posterior (Kingma & Welling 2014).

    Samples ``z = mu + exp(0.5 log_var) * eps``, ``eps ~ N(0, I)`` from the global RNG (the same
    numbers as :class:`~pyautoencoder.variational.stochastic_layers.FullyFactorizedGaussian`);
    ``sample=False`` gives ``z = mu``. No parameters of its own (the heads are the model's
    sampling layer), so a model's ``state_dict`` is that of 2.x. ``log q`` is computed only when
    asked (:meth:`log_prob`), ``-0.5 ((z - mu)^2 exp(-log_var) + log_var + log 2 pi)`` summed.
    """

    is_diagonal_gaussian = True

    def rsample(
        self,
        h: torch.Tensor,
        mu: torch.Tensor,
        log_var: torch.Tensor,
        num_samples: int = 1,
        sample: bool = True,
    ) -> PosteriorSample:
        if not sample:
            return PosteriorSample(mu.unsqueeze(1), None, None)
        if num_samples == 1:
            # [B, D_z] noise, one unsqueeze at the end: bit-identical to the general branch.
            return PosteriorSample(diagonal_gaussian_draw(mu, log_var).unsqueeze(1), None, None)
        eps = standard_normal_noise(mu, num_samples)  # [B, S, D_z]
        z = mu.unsqueeze(1) + torch.exp(0.5 * log_var).unsqueeze(1) * eps
        return PosteriorSample(z, None, None)

    def log_prob(self, encoded: EncodedPosterior, detach_params: bool = False) -> torch.Tensor:
        mu, log_var = encoded.mu, encoded.log_var
        if detach_params:
            mu, log_var = mu.detach(), log_var.detach()
        return posterior_log_prob(encoded.z, mu, log_var)  # [B, S]

    def distribution(
        self, h: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
    ) -> D.Distribution:
        # Event shape [D_z], or [C, h, w] for latent maps: every dimension after the batch.
        return D.Independent(D.Normal(mu, torch.exp(0.5 * log_var)), mu.dim() - 1)


@register_posterior("full")
class FullCovarianceGaussianPosterior(Posterior):
    r"""``q(z | x) = N(mu, L L^T)`` with a lower-triangular Cholesky factor ``L``.

    ``L = diag(exp(0.5 log_var)) + tril(A, -1)``: the diagonal comes from the model's
    ``log_var`` head (so ``log det Sigma = sum_d log_var_d``) and the ``D_z (D_z - 1) / 2``
    strictly lower entries ``A`` from a lazy linear head ``off_diagonal`` on the encoder
    features (Kingma & Welling 2014, Appendix C.2's full-covariance case; the Cholesky
    parameterisation keeps ``Sigma`` positive definite for any head output). The model's
    ``log_var`` is then ``log L_dd^2``, not the marginal log-variance.

    Samples ``z = mu + L eps``; ``log q(z) = -0.5 |eps|^2 - 0.5 sum_d log_var_d -
    0.5 D log 2 pi`` at the drawn samples, and at any ``z`` via a triangular solve
    ``eps = L^{-1} (z - mu)``. KL from ``N(0, I)`` and diagonal Gaussian priors is closed form.
    """

    def _build(self, latent_dim: int) -> None:
        self.off_diagonal = nn.LazyLinear(latent_dim * (latent_dim - 1) // 2)
        rows, cols = torch.tril_indices(latent_dim, latent_dim, offset=-1)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)

    def scale_tril(self, h: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """``L [B, D_z, D_z]`` from features ``h [B, F]`` and ``log_var [B, D_z]``."""
        strict = self.off_diagonal(h)  # [B, D_z (D_z - 1) / 2]
        dim = log_var.shape[-1]
        # Scatter the strict entries into a [D_z, D_z, B] block (the batch last, so that the
        # two index tensors address the leading dimensions), then put the batch first.
        block = strict.new_zeros(dim, dim, strict.shape[0])
        block = block.index_put((self._rows, self._cols), strict.transpose(0, 1))
        return block.permute(2, 0, 1) + torch.diag_embed(torch.exp(0.5 * log_var))

    def rsample(
        self,
        h: torch.Tensor,
        mu: torch.Tensor,
        log_var: torch.Tensor,
        num_samples: int = 1,
        sample: bool = True,
    ) -> PosteriorSample:
        tril = self.scale_tril(h, log_var)  # [B, D_z, D_z]
        log_det = 0.5 * log_var.sum(dim=-1, keepdim=True)  # [B, 1]: log |det L|
        if not sample:
            z = mu.unsqueeze(1)  # [B, 1, D_z]
            log_q = -log_det - mu.shape[-1] * _HALF_LOG_2PI
            return PosteriorSample(z, log_q, tril)
        eps = standard_normal_noise(mu, num_samples)  # [B, S, D_z]
        z = mu.unsqueeze(1) + eps @ tril.transpose(1, 2)  # [B, S, D_z]
        return PosteriorSample(z, standard_normal_log_density(eps) - log_det, tril)

    def log_prob(self, encoded: EncodedPosterior, detach_params: bool = False) -> torch.Tensor:
        tril = getattr(encoded, "scale_tril", None)
        mu, log_var = encoded.mu, encoded.log_var
        if tril is None:
            raise ValueError(
                "a full-covariance posterior needs the output's scale_tril [B, D_z, D_z]; pass "
                "the output of the model's forward"
            )
        if detach_params:
            tril, mu, log_var = tril.detach(), mu.detach(), log_var.detach()
        centred = (encoded.z - mu.unsqueeze(1)).transpose(1, 2)  # [B, D_z, S]
        eps = torch.linalg.solve_triangular(tril, centred, upper=False).transpose(1, 2)
        return standard_normal_log_density(eps) - 0.5 * log_var.sum(dim=-1, keepdim=True)

    def distribution(
        self, h: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
    ) -> D.Distribution:
        return D.MultivariateNormal(mu, scale_tril=self.scale_tril(h, log_var))
