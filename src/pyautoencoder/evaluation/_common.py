"""Plumbing shared by the evaluation functions: the model interface, batches, modes, sampling.

Every estimator in :mod:`pyautoencoder.evaluation` works with any model that exposes the
*posterior interface* of the VAE family:

* ``model.posterior(x)`` -> a ``torch.distributions.Distribution`` with batch shape ``[B]`` and
  event shape ``[D_z]`` (``rsample`` and ``log_prob``);
* ``model.prior`` -> a ``Distribution`` with event shape ``[D_z]``;
* ``model._decode(z [B, K, D_z]).x_hat`` -> decoder outputs ``[B, K, ...]``.

A conditional model (the ``"conditional"`` capability: the CVAE) takes its condition after
``x`` and ``z``: ``posterior(x, y)``, ``_decode(z, y)``. Its data are batches ``(x, y)``, and
the estimators pass each batch's ``y`` on (:func:`iterate_inputs`).
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import distributions as D
from torch import nn

from ..distributions._likelihood import Likelihood, LikelihoodType

#: Data accepted by the estimators: one tensor ``[N, ...]`` (split into batches), or an
#: iterable of batches, each a tensor or a tuple/list whose first item is the tensor (a
#: ``DataLoader`` over ``(x, y)`` pairs).
DataSource = torch.Tensor | Iterable[Any]

#: A likelihood argument: a registered name, an enum member or a likelihood object.
LikelihoodSpec = LikelihoodType | str | Likelihood


def check_posterior_model(model: object, function: str) -> nn.Module:
    """Raise ``TypeError`` unless ``model`` is an ``nn.Module`` with the posterior interface."""
    missing = [
        name
        for name, ok in (
            ("posterior(x)", callable(getattr(model, "posterior", None))),
            (
                "prior",
                _has_attribute(model, "prior")
                or callable(getattr(model, "sample_log_terms", None)),
            ),
            ("_decode(z)", callable(getattr(model, "_decode", None))),
        )
        if not ok
    ]
    if isinstance(model, nn.Module) and not missing:
        return model
    hint = ""
    inner = getattr(model, "vae", None)
    if inner is not None and callable(getattr(inner, "posterior", None)):
        hint = "; this model wraps a VAE, pass model.vae instead"
    what = "an nn.Module" if not isinstance(model, nn.Module) else f"missing {', '.join(missing)}"
    raise TypeError(
        f"{function} needs a model with a posterior: an nn.Module with posterior(x) -> "
        "Distribution [B] x [D_z], a prior Distribution and _decode(z [B, K, D_z]).x_hat "
        f"(the VAE family), got {type(model).__name__} ({what}){hint}"
    )


def posterior_of(model: nn.Module, x: torch.Tensor, *condition: torch.Tensor) -> D.Distribution:
    """``model.posterior(x, *condition)``, checked to be a distribution."""
    posterior = model.posterior(x, *condition)  # type: ignore[operator]
    if not isinstance(posterior, D.Distribution):
        raise TypeError(
            "model.posterior(x) must return a torch.distributions.Distribution, got "
            f"{type(posterior).__name__}"
        )
    return posterior


def prior_of(model: nn.Module) -> D.Distribution:
    """``model.prior``, checked to be a distribution."""
    prior = model.prior
    if not isinstance(prior, D.Distribution):
        raise TypeError(
            f"model.prior must be a torch.distributions.Distribution, got {type(prior).__name__}"
        )
    return prior


def _has_attribute(model: object, name: str) -> bool:
    try:
        getattr(model, name)
    except AttributeError:
        return False
    return True


def check_count(value: object, name: str) -> int:
    """A Python int (not bool) that is ``>= 1``; ``TypeError``/``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a stateless model)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def resolve_likelihood(model: nn.Module, likelihood: LikelihoodSpec | None) -> LikelihoodSpec:
    """``likelihood`` if given, else the model's ``likelihood`` attribute, else ``"gaussian"``.

    ``"gaussian"`` is the 2.x default of every model's ``compute_loss``.
    """
    if likelihood is not None:
        return likelihood
    own = getattr(model, "likelihood", None)
    if isinstance(own, Likelihood | LikelihoodType | str):
        return own
    return LikelihoodType.GAUSSIAN


def condition_count(model: nn.Module) -> int:
    """How many inputs the model's ``posterior`` and ``_decode`` take after ``x`` / ``z``:
    1 for a conditional model (the CVAE's ``y``), else 0."""
    return 1 if "conditional" in getattr(type(model), "capabilities", frozenset()) else 0


def iterate_inputs(
    model: nn.Module, data: DataSource, batch_size: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, tuple[torch.Tensor, ...]]]:
    """Yield ``(x, condition)`` on ``device``: ``condition`` is ``()``, or ``(y,)`` for a
    conditional model, taken from each batch ``(x, y, ...)``.

    Raises ``TypeError`` when a conditional model gets a tensor or batches without ``y``.
    """
    extra = condition_count(model)
    if extra == 0:
        for x in iterate_batches(data, batch_size, device):
            yield x, ()
        return
    if isinstance(data, torch.Tensor):
        raise TypeError(
            f"{type(model).__name__} is conditional: pass data as batches (x, y), e.g. "
            "zip(x.split(64), y.split(64)) or a DataLoader over TensorDataset(x, y), "
            f"got one tensor of shape {tuple(data.shape)}"
        )
    count = 0
    for batch in _batches(data, check_count(batch_size, "batch_size")):
        if not isinstance(batch, tuple | list) or len(batch) < 1 + extra:
            got = f"{len(batch)} item(s)" if isinstance(batch, tuple | list) else "a tensor"
            raise TypeError(
                f"{type(model).__name__} is conditional: every batch must be (x, y), got {got}"
            )
        condition = batch[1 : 1 + extra]
        if not all(isinstance(item, torch.Tensor) for item in condition):
            kinds = ", ".join(type(item).__name__ for item in condition)
            raise TypeError(f"the condition y of every batch must be a tensor, got {kinds}")
        count += 1
        yield _checked_x(batch, device), tuple(item.to(device) for item in condition)
    if count == 0:
        raise ValueError("data must hold at least one batch, got an empty iterable")


def _checked_x(batch: Any, device: torch.device) -> torch.Tensor:
    """The batch's ``x`` (the batch, or its first item) on ``device``, checked to be float."""
    x = batch[0] if isinstance(batch, tuple | list) else batch
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"each batch of data must be a tensor or a (tensor, ...) tuple, got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"data must have a floating-point dtype, got {x.dtype} (convert with .float())"
        )
    return x.to(device)


def _batches(data: DataSource, batch_size: int) -> Iterable[Any]:
    """A tensor's batches of ``batch_size`` along dim 0, or the iterable itself."""
    if isinstance(data, torch.Tensor):
        if data.dim() == 0 or data.shape[0] == 0:
            raise ValueError(
                f"data must hold at least one example [N, ...], got shape {tuple(data.shape)}"
            )
        return data.split(batch_size)
    if isinstance(data, Iterable):
        return data
    raise TypeError(
        "data must be a tensor [N, ...] or an iterable of batches (a DataLoader), "
        f"got {type(data).__name__}"
    )


def iterate_batches(
    data: DataSource, batch_size: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """Yield floating-point batches ``[B, ...]`` on ``device``.

    A tensor is split along dim 0 into batches of ``batch_size``; an iterable yields its own
    batches (the first item of tuple/list batches).
    """
    batch_size = check_count(batch_size, "batch_size")
    count = 0
    for batch in _batches(data, batch_size):
        count += 1
        yield _checked_x(batch, device)
    if count == 0:
        raise ValueError("data must hold at least one batch, got an empty iterable")


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Run a block under ``torch.no_grad()`` with every submodule in eval mode.

    Each submodule's ``training`` flag is restored individually afterwards, also on error.
    """
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        for module, was_training in modes:
            module.training = was_training


def make_generator(
    generator: torch.Generator | None, seed: int | None, device: torch.device
) -> torch.Generator | None:
    """The generator to sample with: ``generator`` itself, a new one seeded with ``seed``, or
    ``None`` (the global RNG) when neither is given."""
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if generator.device.type != device.type:
            raise ValueError(
                f"generator must live on the model's device type {device.type!r}, got a "
                f"generator on {generator.device.type!r}"
            )
        return generator
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    return torch.Generator(device=device).manual_seed(int(seed))


def _normal_parts(posterior: D.Distribution) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(loc, scale)`` of a diagonal Gaussian posterior, else None.

    Event shape ``[D_z]``, or ``[C, h, w]`` for latent maps (``Independent(Normal, 3)``).
    """
    if isinstance(posterior, D.Independent) and isinstance(posterior.base_dist, D.Normal):
        return posterior.base_dist.loc, posterior.base_dist.scale
    return None


def draw_latents(
    posterior: D.Distribution, num_samples: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Draw ``num_samples`` latents ``[K, B, D_z]`` from ``q(z | x)``.

    Diagonal Gaussians (``Independent(Normal, 1)``) and ``MultivariateNormal`` are sampled as
    ``z = mu + L eps`` with ``eps`` drawn from ``generator``, which leaves the global RNG
    untouched. Any other posterior falls back to ``rsample`` (or ``sample``) on the global RNG,
    which the caller forks and seeds (see :func:`seeded_global_rng`).
    """
    shape = torch.Size([num_samples]) + posterior.batch_shape + posterior.event_shape
    parts = _normal_parts(posterior)
    if parts is not None:
        loc, scale = parts
        eps = torch.randn(shape, generator=generator, dtype=loc.dtype, device=loc.device)
        return loc + scale * eps  # [K, B, D_z]
    if isinstance(posterior, D.MultivariateNormal):
        loc, tril = posterior.loc, posterior.scale_tril
        eps = torch.randn(shape, generator=generator, dtype=loc.dtype, device=loc.device)
        return loc + (tril @ eps.unsqueeze(-1)).squeeze(-1)  # [K, B, D_z]
    sample_shape = torch.Size([num_samples])
    return (
        posterior.rsample(sample_shape) if posterior.has_rsample else posterior.sample(sample_shape)
    )


def uses_generator(posterior: D.Distribution) -> bool:
    """Whether :func:`draw_latents` samples ``posterior`` with an explicit generator."""
    return _normal_parts(posterior) is not None or isinstance(posterior, D.MultivariateNormal)


@contextlib.contextmanager
def seeded_global_rng(generator: torch.Generator | None, device: torch.device) -> Iterator[None]:
    """Fork the global RNG and seed it from ``generator`` (for posteriors without one).

    Nothing is forked when ``generator`` is ``None``: sampling then advances the global RNG as
    any ``rsample`` would.
    """
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    if device.type == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
        return
    index = device.index if device.index is not None else 0
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.default_generator.manual_seed(seed)
        torch.get_device_module(device.type).default_generators[index].manual_seed(seed)
        yield


def check_latents(z: torch.Tensor, posterior: D.Distribution, num_samples: int) -> None:
    """Raise ``ValueError`` unless the posterior has batch shape ``[B]`` and event ``[D_z]``.

    Latent maps have event shape ``[C, h, w]`` (any event of one or more dimensions).
    """
    if len(posterior.batch_shape) != 1 or len(posterior.event_shape) < 1:
        raise ValueError(
            "model.posterior(x) must have batch shape [B] and event shape [D_z], got batch "
            f"shape {tuple(posterior.batch_shape)} and event shape "
            f"{tuple(posterior.event_shape)} (wrap a Normal in Independent(..., 1))"
        )
    if z.dim() != 2 + len(posterior.event_shape) or z.shape[0] != num_samples:
        raise ValueError(f"latent samples must be [K, B, D_z], got {tuple(z.shape)}")


def decode_samples(model: nn.Module, z: torch.Tensor, *condition: torch.Tensor) -> torch.Tensor:
    """Decode ``z [K, B, D_z]`` into ``x_hat [B, K, ...]`` with one ``_decode`` call."""
    output = model._decode(z.transpose(0, 1), *condition)  # type: ignore[operator]
    x_hat = getattr(output, "x_hat", None)
    if not isinstance(x_hat, torch.Tensor):
        raise TypeError(
            f"model._decode(z) must return an output with an x_hat tensor, got "
            f"{type(output).__name__}"
        )
    return x_hat
