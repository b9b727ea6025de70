r"""Priors ``p(z)`` over the latent code, as small modules that return ``torch.distributions``.

A :class:`Prior` owns its parameters (a learnable mean, mixture weights, pseudo-inputs) and
returns :meth:`Prior.distribution`, a ``torch.distributions.Distribution`` with event shape
``[D_z]``. Priors are registered by name (:func:`register_prior`) so that
``VAE(..., prior="mixture_of_gaussians")`` works; options need the object::

    VAE(encoder, decoder, 8, prior=MixtureOfGaussiansPrior(8, num_components=20))

KL divergences from the diagonal Gaussian posterior are looked up in a registry
(:func:`~pyautoencoder.distributions.register_kl`): closed form for the Gaussian priors,
a Monte Carlo estimate for the mixtures.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import torch
from torch import distributions as D
from torch import nn

from .._arguments import recording_arguments
from .._registry import Registry
from .._validation import check_positive_int, value_checks_enabled
from ._config import _registered_config

_LOG_2PI = math.log(2.0 * math.pi)

PosteriorParamsFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class Prior(nn.Module, ABC):
    """Base class of latent priors ``p(z)`` with event shape ``[latent_dim]``.

    Subclasses implement :meth:`distribution`. :meth:`attach` (called by the model that owns
    the prior) and :meth:`prepare` (called with each input batch before encoding) are hooks
    for priors that depend on the model, such as :class:`VampPrior`.
    """

    #: The registry name (set by :func:`register_prior`).
    name: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if callable(init) and not getattr(init, "_records_arguments", False):
            cls.__init__ = recording_arguments(init)  # type: ignore[method-assign]

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")

    def config(self) -> dict[str, Any]:
        """``{"name": registered name, **constructor options}`` (JSON; ``latent_dim`` left out).

        :func:`get_prior` rebuilds the prior (untrained) from it. ``NotImplementedError`` for a
        prior class that is not registered or whose options are not JSON values.
        """
        return _registered_config(self, PRIORS.entries.get(self.name), drop=("latent_dim",))

    @abstractmethod
    def distribution(self) -> D.Distribution:
        """``p(z)`` as a distribution with batch shape ``[]`` and event shape ``[D_z]``."""

    @property
    def validate_args(self) -> bool | None:
        """``validate_args`` for the ``torch.distributions`` objects this prior builds.

        ``False`` while value checks are off (or ``torch.compile`` traces): no host read per
        constraint; ``None`` (torch's default) otherwise. Subclasses pass it to every
        distribution they construct, e.g. ``D.Normal(loc, scale, validate_args=
        self.validate_args)``; nothing process-wide is switched.
        """
        return None if value_checks_enabled() else False

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z)`` for ``z [..., D_z]``, shape ``[...]``.

        With value checks off, the distribution's sample validation is off too (and its
        argument validation, for the built-in priors, which pass :attr:`validate_args`).
        """
        return _unvalidated_if_unchecked(self.distribution()).log_prob(z)

    def sample(self, num_samples: int) -> torch.Tensor:
        """``num_samples`` draws ``[num_samples, D_z]`` (reparameterised where possible).

        Validation as in :meth:`log_prob`.
        """
        shape = torch.Size([check_positive_int(num_samples, "num_samples")])
        dist = _unvalidated_if_unchecked(self.distribution())
        return dist.rsample(shape) if dist.has_rsample else dist.sample(shape)

    def attach(self, encode_params: PosteriorParamsFn) -> None:
        """Receive the owning model's ``x -> (mu, log_var)`` map (unused by default)."""

    def prepare(self, x: torch.Tensor) -> None:
        """Called with each input batch before encoding (unused by default)."""

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"


def _unvalidated_if_unchecked(dist: D.Distribution) -> D.Distribution:
    """``dist`` with its own sample validation off while value checks are off.

    Per object (``dist._validate_args``), like torch's ``validate_args=False``: a prior whose
    ``distribution()`` ignores :attr:`Prior.validate_args` still reads no value in
    ``log_prob``, and torch's process-wide default is never changed.
    """
    if not value_checks_enabled():
        dist._validate_args = False
    return dist


_P = TypeVar("_P", bound=type[Prior])
PRIORS: Registry[type[Prior]] = Registry("prior", same_object_again=False)
_PRIORS = PRIORS.entries


def register_prior(name: str) -> Callable[[_P], _P]:
    """Class decorator that makes a :class:`Prior` available by ``name`` (case-insensitive).

    The class must be constructible as ``cls(latent_dim)``.
    """
    key = name.lower()

    def decorator(cls: _P) -> _P:
        PRIORS.register(key, cls)
        cls.name = key
        return cls

    return decorator


def available_priors() -> list[str]:
    """The registered prior names, sorted."""
    return PRIORS.names()


def get_prior(prior: object, latent_dim: int) -> Prior:
    """Resolve ``None`` (standard normal), a name, a config dict or a :class:`Prior` object.

    Raises
    ------
    ValueError
        Unknown name (with close matches) or a prior object of another ``latent_dim``.
    TypeError
        Any other value.
    """
    if prior is None:
        return StandardNormalPrior(latent_dim)
    if isinstance(prior, str):
        key = prior.lower()
        if key not in _PRIORS:
            hint = PRIORS.did_you_mean(key, inline=True)
            raise ValueError(f"Unknown prior {prior!r}: expected one of {available_priors()}{hint}")
        return _PRIORS[key](latent_dim)
    if isinstance(prior, dict):  # a config from Prior.config()
        options = dict(prior)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(f"a prior config needs a 'name' string, got {prior!r}")
        return PRIORS.get(name)(latent_dim, **options)
    if isinstance(prior, Prior):
        if prior.latent_dim != latent_dim:
            raise ValueError(
                f"prior.latent_dim must equal the model's latent_dim = {latent_dim}, "
                f"got {prior.latent_dim}"
            )
        return prior
    raise TypeError(
        f"prior must be None, a registered name (str) or a Prior, got {type(prior).__name__}"
    )


@register_prior("standard_normal")
class StandardNormalPrior(Prior):
    """``p(z) = N(0, I)``, the default prior (Kingma & Welling 2014). No parameters.

    Backed by a non-persistent buffer, so it adds no ``state_dict`` key and follows the
    model's device and dtype.
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        self.register_buffer("loc", torch.zeros(self.latent_dim), persistent=False)

    def distribution(self) -> D.Distribution:
        loc = cast(torch.Tensor, self.loc)
        return D.Independent(
            D.Normal(loc, torch.ones_like(loc), validate_args=self.validate_args),
            1,
            validate_args=self.validate_args,
        )

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log N(z; 0, I) = -0.5 (sum_d z_d^2 + D_z log 2 pi)`` for ``z [..., D_z]``: ``[...]``.

        The closed form (two ops, no distribution object per call) unless a subclass redefines
        :meth:`distribution`; equal to ``distribution().log_prob(z)`` up to rounding.
        """
        if type(self).distribution is not StandardNormalPrior.distribution:
            return super().log_prob(z)
        if z.dim() == 0 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape [..., D_z] with D_z = {self.latent_dim}, got {tuple(z.shape)}"
            )
        return -0.5 * (z.square().sum(dim=-1) + self.latent_dim * _LOG_2PI)


@register_prior("diagonal_gaussian")
class DiagonalGaussianPrior(Prior):
    """Learnable diagonal Gaussian ``p(z) = N(m, diag(exp(v)))``, initialised at ``N(0, I)``.

    Parameters ``loc`` and ``log_var`` (``[D_z]`` each) are trained with the model (empirical
    Bayes). Its KL from the posterior is closed form.
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        self.loc = nn.Parameter(torch.zeros(self.latent_dim))
        self.log_var = nn.Parameter(torch.zeros(self.latent_dim))

    def distribution(self) -> D.Distribution:
        checks = self.validate_args
        scale = torch.exp(0.5 * self.log_var)
        return D.Independent(
            D.Normal(self.loc, scale, validate_args=checks), 1, validate_args=checks
        )


def _gaussian_mixture(
    logits: torch.Tensor, loc: torch.Tensor, log_var: torch.Tensor, validate_args: bool | None
) -> D.Distribution:
    checks = validate_args
    normal = D.Normal(loc, torch.exp(0.5 * log_var), validate_args=checks)
    components = D.Independent(normal, 1, validate_args=checks)  # batch [K]
    weights = D.Categorical(logits=logits, validate_args=checks)
    return D.MixtureSameFamily(weights, components, validate_args=checks)


@register_prior("mixture_of_gaussians")
class MixtureOfGaussiansPrior(Prior):
    r"""Learnable mixture of ``K`` diagonal Gaussians, ``p(z) = sum_k pi_k N(z; m_k, diag(v_k))``.

    Means start at ``N(0, I)`` draws (so components differ), variances at 1, weights uniform
    (``logits`` zero); all three are trained. A multimodal prior (Dilokthanakul et al. 2016,
    *Deep unsupervised clustering with Gaussian mixture VAEs*). Its KL from a Gaussian has no
    closed form: models use the Monte Carlo estimate.

    Parameters
    ----------
    latent_dim : int
        ``D_z``.
    num_components : int
        ``K``.
    """

    def __init__(self, latent_dim: int, num_components: int = 10) -> None:
        super().__init__(latent_dim)
        self.num_components = check_positive_int(num_components, "num_components")
        self.loc = nn.Parameter(torch.randn(self.num_components, self.latent_dim))
        self.log_var = nn.Parameter(torch.zeros(self.num_components, self.latent_dim))
        self.logits = nn.Parameter(torch.zeros(self.num_components))

    def distribution(self) -> D.Distribution:
        return _gaussian_mixture(self.logits, self.loc, self.log_var, self.validate_args)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, num_components={self.num_components}"


@register_prior("vamp")
class VampPrior(Prior):
    r"""VampPrior: the mixture of the model's own posteriors at learned pseudo-inputs.

    .. math::

        p(z) = \frac1K \sum_{k=1}^K q(z \mid u_k)

    with pseudo-inputs ``u_k`` shaped like one example and trained with the model (Tomczak &
    Welling 2018, *VAE with a VampPrior*, eq. 9). The owning model passes its encoder map
    through :meth:`attach`; the pseudo-inputs ``[K, *x.shape[1:]]`` are created from the first
    batch (:meth:`prepare`, run by ``model.build(x)`` or the first forward) unless
    ``input_shape`` is given, and are restored by ``load_state_dict`` on a fresh model too.
    Initialised as ``N(init_mean, init_std^2)``. KL from the posterior: Monte Carlo.

    Parameters
    ----------
    latent_dim : int
        ``D_z``.
    num_pseudo_inputs : int
        ``K``.
    input_shape : sequence of int, optional
        Shape of one example, ``x.shape[1:]``; inferred from the first batch when omitted.
    init_mean, init_std : float
        Initial distribution of the pseudo-inputs (pick the data's range).
    """

    def __init__(
        self,
        latent_dim: int,
        num_pseudo_inputs: int = 50,
        input_shape: tuple[int, ...] | None = None,
        init_mean: float = 0.0,
        init_std: float = 0.01,
    ) -> None:
        super().__init__(latent_dim)
        self.num_pseudo_inputs = check_positive_int(num_pseudo_inputs, "num_pseudo_inputs")
        if not (math.isfinite(init_std) and init_std >= 0 and math.isfinite(init_mean)):
            raise ValueError(
                f"init_mean must be finite and init_std finite and >= 0, got {init_mean!r} "
                f"and {init_std!r}"
            )
        self.init_mean = float(init_mean)
        self.init_std = float(init_std)
        self.pseudo_inputs: torch.Tensor = nn.parameter.UninitializedParameter()
        self._encode_params: PosteriorParamsFn | None = None
        if input_shape is not None:
            self._materialize(tuple(int(d) for d in input_shape))

    def _materialize(self, input_shape: tuple[int, ...], like: torch.Tensor | None = None) -> None:
        shape = (self.num_pseudo_inputs, *input_shape)
        kwargs: dict[str, Any] = {}
        if like is not None and like.is_floating_point():
            kwargs = {"device": like.device, "dtype": like.dtype}
        cast(nn.parameter.UninitializedParameter, self.pseudo_inputs).materialize(shape, **kwargs)
        with torch.no_grad():
            self.pseudo_inputs.normal_(self.init_mean, self.init_std)

    def is_materialized(self) -> bool:
        """Whether the pseudo-inputs exist yet."""
        return not isinstance(self.pseudo_inputs, nn.parameter.UninitializedParameter)

    def attach(self, encode_params: PosteriorParamsFn) -> None:
        # A plain attribute, not a submodule: the model owns the prior, not the reverse.
        self._encode_params = encode_params

    def prepare(self, x: torch.Tensor) -> None:
        """Create the pseudo-inputs from the first batch, or check ``x`` against them.

        Raises
        ------
        ValueError
            When one example of ``x`` (``x.shape[1:]``) is not shaped like a pseudo-input
            (``input_shape``): the encoder would meet two input sizes.
        """
        if not self.is_materialized():
            self._materialize(tuple(x.shape[1:]), like=x)
            return
        expected = tuple(self.pseudo_inputs.shape[1:])
        example = tuple(x.shape[1:])
        if example != expected:
            raise ValueError(
                f"VampPrior: input_shape {expected} (one pseudo-input) does not match the data: "
                f"x has shape {tuple(x.shape)}, one example {example}; give "
                f"input_shape={example}, or leave input_shape out to take it from the first batch"
            )

    def distribution(self) -> D.Distribution:
        if self._encode_params is None:
            raise RuntimeError(
                "VampPrior needs the model's encoder: pass it to a model, e.g. "
                "VAE(encoder, decoder, latent_dim, prior=VampPrior(latent_dim))"
            )
        if not self.is_materialized():
            raise RuntimeError(
                "VampPrior's pseudo-inputs are not created yet: call model.build(x) or run a "
                "forward pass first, or give input_shape"
            )
        mu, log_var = self._encode_params(self.pseudo_inputs)  # [K, D_z] each
        return _gaussian_mixture(torch.zeros_like(mu[:, 0]), mu, log_var, self.validate_args)

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        key = prefix + "pseudo_inputs"
        if not self.is_materialized() and key in state_dict:
            loaded = state_dict[key]
            pending = cast(nn.parameter.UninitializedParameter, self.pseudo_inputs)
            pending.materialize(tuple(loaded.shape), dtype=loaded.dtype)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, num_pseudo_inputs={self.num_pseudo_inputs}"
