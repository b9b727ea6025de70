"""A registry of model classes by name, for the CLI, configs and the generic test matrix.

Each model module registers its class once::

    @register_model("vae", latent="features")
    class VAE(BaseAutoencoder): ...

``latent`` tells a factory (see :func:`pyautoencoder.nets.create_model`) what the model's
encoder must output:

* ``"features"``: flat features ``[B, F]``; the model maps them to its latent itself
  (VAE family, whose sampling layer is lazy);
* ``"code"``: the latent code itself, ``[B, latent_dim]`` (deterministic and quantized models);
* ``"dictionary"``: no encoder or decoder network; the model owns its linear maps and is built
  from the input size, ``cls(input_dim=prod(input_shape), <latent_arg>=latent_dim, ...)``
  (the sparse autoencoders of :mod:`pyautoencoder.dictionary`).

``latent_arg`` names the constructor argument that receives the latent size (``"latent_dim"``
by default, ``None`` if the constructor takes none, e.g. ``AE(encoder, decoder)``), and
``dataset_size_arg`` the one that receives the number of training examples, for models whose
objective needs it (beta-TCVAE's minibatch-weighted estimator); the command line fills both in.
``latent_shape_arg`` names the keyword that takes a latent *shape* ``(C, h, w)`` instead
(latent maps, e.g. ``VAE(..., latent_shape=(4, 16, 16))``); ``None`` for models whose latent
is a flat code only. ``create_model(..., net="resnet")`` without ``latent_dim`` uses it.

Names are lower-case with underscores; a lookup also accepts hyphens and any case
(``"beta-tcvae"`` finds ``"beta_tcvae"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from torch import nn

from ._registry import Registry

LatentKind = Literal["features", "code", "dictionary"]
"""What a model's encoder must output: ``"features"`` (flat features the model maps to its
latent), ``"code"`` (the latent code itself) or ``"dictionary"`` (the model has no encoder
network: it is built from the input size); see the module docstring."""

__all__ = [
    "LatentKind",
    "ModelEntry",
    "Registry",
    "get_model_entry",
    "list_models",
    "register_model",
]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows of one model: its class, how its encoder must end, and which
    constructor arguments take the latent size and the training-set size."""

    name: str
    cls: type[nn.Module]
    latent: LatentKind
    latent_arg: str | None
    dataset_size_arg: str | None = None
    latent_shape_arg: str | None = None
    #: A constructor argument that, when given, is the decoder's input width instead of the
    #: latent size (a hierarchical model's ``decoder_dim``).
    decoder_input_arg: str | None = None


_T = TypeVar("_T", bound=type[nn.Module])


def _normalise(name: str) -> str:
    """The registry key of a name: lower-case, hyphens as underscores."""
    return name.lower().replace("-", "_")


#: Every registered model by name (any case, ``-`` or ``_``).
MODELS: Registry[ModelEntry] = Registry("model", normalise=_normalise)
_MODELS = MODELS.entries  # the table itself (tests patch it)


def register_model(
    name: str,
    *,
    latent: LatentKind = "features",
    latent_arg: str | None = "latent_dim",
    dataset_size_arg: str | None = None,
    latent_shape_arg: str | None = None,
    decoder_input_arg: str | None = None,
) -> Callable[[_T], _T]:
    """Class decorator that makes a model available by ``name`` (lower-case, underscores)."""
    key = _normalise(name)
    if latent not in ("features", "code", "dictionary"):
        raise ValueError(f"latent must be 'features', 'code' or 'dictionary', got {latent!r}")

    def decorator(cls: _T) -> _T:
        if key in _MODELS and _MODELS[key].cls is not cls:
            raise ValueError(f"a model named {key!r} is already registered")
        _MODELS[key] = ModelEntry(
            name=key,
            cls=cls,
            latent=latent,
            latent_arg=latent_arg,
            dataset_size_arg=dataset_size_arg,
            latent_shape_arg=latent_shape_arg,
            decoder_input_arg=decoder_input_arg,
        )
        return cls

    return decorator


def list_models() -> list[str]:
    """The registered model names, sorted."""
    _import_all_families()
    return sorted(_MODELS)


def get_model_entry(name: str) -> ModelEntry:
    """Look a model up by name (any case, ``-`` or ``_``); an unknown name lists close matches
    and all valid names."""
    _import_all_families()
    key = _normalise(name)
    if key in _MODELS:
        return _MODELS[key]
    hint = MODELS.did_you_mean(key)
    available = ", ".join(sorted(_MODELS))
    raise ValueError(f"Unknown model {name!r}.{hint} Available models: {available}")


def _import_all_families() -> None:
    """Import every model family so that their registrations have run."""
    import importlib

    for family in ("vanilla", "variational", "quantized", "dictionary"):
        try:
            importlib.import_module(f"pyautoencoder.{family}")
        except ModuleNotFoundError as error:  # a family not written yet
            if error.name != f"pyautoencoder.{family}":
                raise
