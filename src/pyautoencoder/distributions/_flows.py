r"""Normalizing-flow posteriors: planar, radial and inverse autoregressive flows, K deep.

A flow posterior draws ``z_0 = mu + sigma * eps`` from the model's diagonal Gaussian head and
pushes it through ``K`` invertible steps, ``z_K = f_K(... f_1(z_0))``. By the change of
variables (Rezende & Mohamed 2015, eq. 6),

.. math::

    \log q_K(z_K \mid x) = \log q_0(z_0 \mid x)
        - \sum_{k=1}^K \log \left| \det \frac{\partial f_k}{\partial z_{k-1}} \right|,

which :meth:`FlowPosterior.rsample` returns with the samples (``log_q [B, S]``). The steps'
parameters are *amortised*: a lazy linear head maps the encoder features ``h [B, F]`` to every
step's parameters (Rezende & Mohamed 2015, section 4.2; the IAF's context ``h`` of Kingma et
al. 2016, section 4). A flow has no closed-form KL to a prior: models use the Monte Carlo
estimate at the drawn samples, and the density is known only at the flow's own samples (no
inverse is computed), so DReG is not available.

Adding a flow: subclass :class:`FlowStep` (``num_params`` amortised parameters, ``forward(z,
params) -> (z_new, log_det)``) and :class:`FlowPosterior` (``_make_step``), then
``@register_posterior("name")``; the docs page "Objectives and posteriors" shows one module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn
from torch.distributions import constraints

from .._validation import check_positive_int
from ._posteriors import (
    EncodedPosterior,
    Posterior,
    PosteriorSample,
    register_posterior,
    standard_normal_log_density,
    standard_normal_noise,
)


class FlowStep(nn.Module, ABC):
    """One invertible step ``z -> f(z)`` with amortised parameters.

    ``num_params`` is the number of parameters per input that the posterior's head produces
    for this step. :meth:`forward` takes ``z [..., D_z]`` and ``params [..., num_params]``
    (broadcastable over the leading dimensions) and returns ``(f(z) [..., D_z],
    log |det df/dz| [...])``.
    """

    num_params: int

    @abstractmethod
    def forward(self, z: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f(z), log |det J_f(z)|)``."""


class PlanarStep(FlowStep):
    r"""``f(z) = z + u' tanh(w^T z + b)`` (Rezende & Mohamed 2015, eq. 10 and 12).

    ``log |det J| = log(1 + (1 - tanh^2(w^T z + b)) w^T u')``. The raw ``u`` is replaced by
    ``u' = u + (m(w^T u) - w^T u) w / |w|^2`` with ``m(a) = -1 + softplus(a)``, so that
    ``w^T u' > -1`` and the step is invertible (their Appendix A). ``num_params = 2 D_z + 1``
    (``u, w, b``).
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.num_params = 2 * latent_dim + 1

    def forward(self, z: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dim = self.latent_dim
        u, w, b = params.split([dim, dim, 1], dim=-1)
        w_dot_u = (w * u).sum(dim=-1, keepdim=True)
        w_norm_sq = w.square().sum(dim=-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
        u_hat = u + (F.softplus(w_dot_u) - 1.0 - w_dot_u) * w / w_norm_sq
        activation = torch.tanh((w * z).sum(dim=-1, keepdim=True) + b)  # [..., 1]
        z_new = z + u_hat * activation
        w_dot_u_hat = (w * u_hat).sum(dim=-1, keepdim=True)
        log_det = torch.log1p((1.0 - activation.square()) * w_dot_u_hat)
        return z_new, log_det.squeeze(-1)


class RadialStep(FlowStep):
    r"""``f(z) = z + beta h(alpha, r) (z - z_ref)``, ``h = 1 / (alpha + r)``, ``r = |z - z_ref|``.

    Rezende & Mohamed 2015, eq. 14:
    ``log |det J| = (D - 1) log(1 + beta h) + log(1 + beta h + beta h' r)``, which simplifies
    to ``(D - 1) log(1 + beta h) + log(1 + alpha beta h^2)``. ``alpha = softplus(a) > 0`` and
    ``beta = -alpha + softplus(b) > -alpha`` keep the step invertible (their Appendix A).
    ``num_params = D_z + 2`` (``z_ref, a, b``).
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.num_params = latent_dim + 2

    def forward(self, z: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z_ref, alpha_raw, beta_raw = params.split([self.latent_dim, 1, 1], dim=-1)
        alpha = F.softplus(alpha_raw)
        beta = F.softplus(beta_raw) - alpha
        diff = z - z_ref
        radius = diff.norm(dim=-1, keepdim=True)  # [..., 1]
        h = 1.0 / (alpha + radius)
        z_new = z + beta * h * diff
        log_det = (self.latent_dim - 1) * torch.log1p(beta * h) + torch.log1p(
            alpha * beta * h.square()
        )
        return z_new, log_det.squeeze(-1)


class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 ``mask [out, in]`` (MADE)."""

    mask: torch.Tensor

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class IAFStep(FlowStep):
    r"""One inverse autoregressive flow step (Kingma et al. 2016, eq. 14 and Algorithm 1).

    A one-hidden-layer MADE (Germain et al. 2015) with context computes
    ``[m, s] = AutoregressiveNN(z, c)`` so that ``m_d, s_d`` depend on ``z_{<d}`` only
    (in this step's order); then, with ``sigma = sigmoid(s + 1)`` (the "numerically stable"
    LSTM-type update of their section 4; the +1 starts ``sigma`` near 0.73),

    .. math::

        f(z) = \sigma \odot z + (1 - \sigma) \odot m,
        \qquad \log |\det J| = \sum_d \log \sigma_d.

    The Jacobian is triangular with diagonal ``sigma``. ``reverse=True`` uses the reversed
    variable order (the paper alternates orders between steps). The context ``c`` (the
    amortised parameters, ``num_params = hidden_features``) is added to the hidden layer.
    """

    #: Shift of the gate's pre-activation (sigma = sigmoid(s + forget_bias)).
    forget_bias: ClassVar[float] = 1.0

    def __init__(self, latent_dim: int, hidden_features: int, reverse: bool = False) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.num_params = hidden_features
        self.reverse = reverse
        degrees = torch.arange(1, latent_dim + 1)
        if reverse:
            degrees = degrees.flip(0)
        hidden_degrees = torch.arange(hidden_features) % max(1, latent_dim - 1) + 1
        hidden_mask = hidden_degrees.unsqueeze(1) >= degrees.unsqueeze(0)  # [H, D]
        output_mask = degrees.unsqueeze(1) > hidden_degrees.unsqueeze(0)  # [D, H]
        self.hidden = MaskedLinear(latent_dim, hidden_features, hidden_mask)
        self.shift = MaskedLinear(hidden_features, latent_dim, output_mask)
        self.gate = MaskedLinear(hidden_features, latent_dim, output_mask)

    def forward(self, z: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = F.elu(self.hidden(z) + params)
        gate = self.gate(hidden) + self.forget_bias
        sigma = torch.sigmoid(gate)
        z_new = sigma * z + (1.0 - sigma) * self.shift(hidden)
        return z_new, F.logsigmoid(gate).sum(dim=-1)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, reverse={self.reverse}"


class FlowPosterior(Posterior):
    """Base class of the flow posteriors: ``num_flows`` steps on top of the diagonal Gaussian.

    Subclasses implement :meth:`_make_step`. The amortised parameters of all steps come from
    one lazy linear head ``params_head`` on the encoder features. ``sample=False`` returns the
    image of the base mean, ``f(mu)`` (a deterministic code; not ``E_q[z]``).
    """

    has_density = False
    code_is_mu = False
    #: ``"name:K"`` specs set ``num_flows``.
    takes_num_flows: ClassVar[bool] = True

    def __init__(self, num_flows: int = 4) -> None:
        super().__init__()
        self.num_flows = check_positive_int(num_flows, "num_flows")

    @abstractmethod
    def _make_step(self, latent_dim: int, index: int) -> FlowStep:
        """Step ``index`` (0-based) for ``D_z = latent_dim``."""

    def _build(self, latent_dim: int) -> None:
        steps = [self._make_step(latent_dim, k) for k in range(self.num_flows)]
        self.steps = nn.ModuleList(steps)
        self._split = [step.num_params for step in steps]
        self.params_head = nn.LazyLinear(sum(self._split))

    def step_params(self, h: torch.Tensor) -> list[torch.Tensor]:
        """Each step's amortised parameters ``[B, num_params]`` from features ``h [B, F]``."""
        return list(self.params_head(h).split(self._split, dim=-1))

    def push(
        self, z: torch.Tensor, params: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f_K(... f_1(z)), sum_k log |det J_k|)`` for ``z [..., D_z]``."""
        total = torch.zeros((), dtype=z.dtype, device=z.device)
        for step, step_params in zip(self.steps, params, strict=True):
            z, log_det = step(z, step_params)
            total = total + log_det
        return z, total

    def rsample(
        self,
        h: torch.Tensor,
        mu: torch.Tensor,
        log_var: torch.Tensor,
        num_samples: int = 1,
        sample: bool = True,
    ) -> PosteriorSample:
        params = [p.unsqueeze(1) for p in self.step_params(h)]  # [B, 1, P_k]
        if sample:
            eps = standard_normal_noise(mu, num_samples)  # [B, S, D_z]
            z0 = mu.unsqueeze(1) + torch.exp(0.5 * log_var).unsqueeze(1) * eps
        else:
            eps = torch.zeros_like(mu).unsqueeze(1)
            z0 = mu.unsqueeze(1)
        log_q0 = standard_normal_log_density(eps) - 0.5 * log_var.sum(dim=-1, keepdim=True)
        z, log_det = self.push(z0, params)
        return PosteriorSample(z, log_q0 - log_det, None)  # [B, S, D_z], [B, S]

    def log_prob(self, encoded: EncodedPosterior, detach_params: bool = False) -> torch.Tensor:
        if detach_params:
            raise ValueError(
                f"{type(self).__name__} has no density at arbitrary z (the flow is not "
                "inverted), so log q with detached parameters (DReG) is not available; use "
                "gradient_estimator='iwae' or a Gaussian posterior"
            )
        log_q = getattr(encoded, "log_q", None)
        if log_q is None:
            raise ValueError(
                f"{type(self).__name__}.log_prob needs the output's log_q [B, S]: pass the "
                "output of the model's forward"
            )
        return log_q

    def distribution(
        self, h: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
    ) -> D.Distribution:
        base = D.Independent(D.Normal(mu, torch.exp(0.5 * log_var)), 1)
        transforms: list[D.Transform] = [
            _StepTransform(cast(FlowStep, step), p)
            for step, p in zip(self.steps, self.step_params(h), strict=True)
        ]
        return FlowDistribution(base, transforms)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "num_flows": self.num_flows}

    def spec(self) -> str:
        return f"{self.name}:{self.num_flows}"

    def extra_repr(self) -> str:
        return f"num_flows={self.num_flows}"


class _StepTransform(D.Transform):
    """A :class:`FlowStep` with fixed parameters as a ``torch.distributions`` transform.

    It caches its last ``(x, y)`` pair, so the distribution's ``log_prob`` works at the samples
    it just drew; any other point raises (the steps have no closed-form inverse).
    """

    domain = constraints.independent(constraints.real, 1)
    codomain = constraints.independent(constraints.real, 1)
    bijective = True

    def __init__(self, step: FlowStep, params: torch.Tensor) -> None:
        super().__init__(cache_size=1)
        self.step = step
        self.params = params

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.params)[0]

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            "a flow posterior's log_prob is only available at the samples it has just drawn "
            "(the flow has no closed-form inverse)"
        )

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.params)[1]


class FlowDistribution(D.TransformedDistribution):
    """``q(z | x)`` of a flow posterior: a base ``Independent(Normal)`` pushed through the steps.

    ``rsample`` and ``log_prob`` at the samples just drawn (cached) work as in
    ``TransformedDistribution``. ``mean`` has no closed form: it is the Monte Carlo average of
    ``mean_samples = 256`` draws with a private generator seeded 0 (deterministic, the global
    RNG untouched).
    """

    mean_samples: ClassVar[int] = 256

    @property
    def mean(self) -> torch.Tensor:
        normal = self.base_dist.base_dist  # type: ignore[attr-defined]
        loc, scale = normal.loc, normal.scale  # [B, D_z]
        generator = torch.Generator(device=loc.device).manual_seed(0)
        eps = torch.randn(
            (self.mean_samples, *loc.shape), generator=generator, dtype=loc.dtype, device=loc.device
        )
        z = loc + scale * eps  # [N, B, D_z]
        for transform in self.transforms:
            z = transform._call(z)
        return z.mean(dim=0)


@register_posterior("planar")
class PlanarFlow(FlowPosterior):
    """``num_flows`` planar steps (:class:`PlanarStep`; Rezende & Mohamed 2015, section 4.1)."""

    def _make_step(self, latent_dim: int, index: int) -> FlowStep:
        return PlanarStep(latent_dim)


@register_posterior("radial")
class RadialFlow(FlowPosterior):
    """``num_flows`` radial steps (:class:`RadialStep`; Rezende & Mohamed 2015, section 4.1)."""

    def _make_step(self, latent_dim: int, index: int) -> FlowStep:
        return RadialStep(latent_dim)


@register_posterior("iaf")
class InverseAutoregressiveFlow(FlowPosterior):
    """``num_flows`` IAF steps (:class:`IAFStep`; Kingma et al. 2016), orders alternating.

    Step ``k`` uses the natural variable order for even ``k`` and the reversed order for odd
    ``k``. Each step's MADE has ``hidden_features`` hidden units (default ``max(2 D_z, 32)``
    when ``None``); its context comes from the encoder features.
    """

    def __init__(self, num_flows: int = 4, hidden_features: int | None = None) -> None:
        super().__init__(num_flows)
        self.hidden_features = (
            None
            if hidden_features is None
            else check_positive_int(hidden_features, "hidden_features")
        )

    def _make_step(self, latent_dim: int, index: int) -> FlowStep:
        hidden = self.hidden_features or max(2 * latent_dim, 32)
        return IAFStep(latent_dim, hidden, reverse=index % 2 == 1)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "hidden_features": self.hidden_features}

    def extra_repr(self) -> str:
        return f"num_flows={self.num_flows}, hidden_features={self.hidden_features}"
