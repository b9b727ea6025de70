r"""The sampler protocol: a density fitted to a trained model's codes, decoded by the model.

A trained autoencoder often samples poorly from its prior: the aggregate posterior
``q(z) = E_{p_data(x)}[q(z | x)]`` does not fill the prior (Dai & Wipf 2019; Ghosh et al.
2020). A :class:`LatentSampler` fits a density to the codes of the training data *after*
training (``fit``), draws codes from it (``sample_latents``) and decodes them with the model
(``sample``). It is an ``nn.Module`` whose learned state is its buffers and parameters, saved
as safetensors next to a JSON file of its constructor arguments (``save`` / :func:`load_sampler`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from .._io import atomic_save_file, atomic_write_json
from .._registry import Registry
from .._validation import check_num_samples, check_positive_int
from ._codes import decode_codes, latent_codes

SAMPLER_CONFIG_FILE = "sampler.json"
SAMPLER_WEIGHTS_FILE = "sampler.safetensors"
_FORMAT = "pyautoencoder-sampler"

_S = TypeVar("_S", bound="type[LatentSampler]")
SAMPLERS: Registry[type[LatentSampler]] = Registry("sampler")


class SamplerError(ValueError):
    """A sampler folder or specification that cannot be used (one line, names the file)."""


def register_sampler(name: str) -> Callable[[_S], _S]:
    """Class decorator: make a sampler available by ``name`` (CLI ``--sampler NAME[:ARG]``)."""

    def decorator(cls: _S) -> _S:
        cls.registry_name = name
        SAMPLERS.register(name, cls)
        return cls

    return decorator


def available_samplers() -> list[str]:
    """The registered sampler names, sorted."""
    return SAMPLERS.names()


def _sampler_class(name: str) -> type[LatentSampler]:
    try:
        return SAMPLERS.get(name.strip().replace("_", "-"))
    except (TypeError, ValueError) as error:
        raise SamplerError(str(error)) from None


def get_sampler(spec: str | LatentSampler) -> LatentSampler:
    """A sampler from a specification ``"NAME"`` or ``"NAME:ARG"`` (e.g. ``"gmm:10"``, ``"maf:4"``).

    ``ARG`` is the sampler's first constructor option (:attr:`LatentSampler.spec_argument`):
    the number of mixture components of ``gmm``, the number of flow layers of ``maf``.
    """
    if isinstance(spec, LatentSampler):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"sampler must be a name like 'gmm:10' or a sampler, got {spec!r}")
    name, _, argument = spec.partition(":")
    cls = _sampler_class(name)
    if not argument:
        return cls()
    if cls.spec_argument is None:
        raise SamplerError(f"sampler {cls.registry_name!r} takes no ':' argument, got {spec!r}")
    try:
        value = int(argument)
    except ValueError:
        raise SamplerError(
            f"sampler {spec!r}: {cls.spec_argument} must be an integer, got {argument!r}"
        ) from None
    return cls(**{cls.spec_argument: value})


class LatentSampler(nn.Module, ABC):
    """Base class of samplers fitted to a trained model's codes.

    Subclasses implement :meth:`_fit_codes` (fit to codes ``[N, D]``), :meth:`_allocate`
    (create the state for latent size ``D``, used before loading saved state) and
    :meth:`sample_latents`; they store their constructor arguments in ``self.config``.
    """

    registry_name: ClassVar[str] = ""
    spec_argument: ClassVar[str | None] = None
    """The constructor option that ``"NAME:ARG"`` sets, or ``None``."""

    def __init__(self) -> None:
        super().__init__()
        self.config: dict[str, Any] = {}
        self.latent_dim: int | None = None
        self._model: list[nn.Module] = []  # a plain list: the model is not a submodule

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, model: nn.Module, data: Any, *, batch_size: int = 256) -> LatentSampler:
        """Fit to the codes of ``data`` (tensor ``[N, ...]`` or batches) under ``model``.

        Returns ``self``; afterwards :meth:`sample` decodes with ``model``.
        """
        self._check_model(model)
        codes = latent_codes(model, data, batch_size)  # [N, D]
        self.latent_dim = int(codes.shape[1])
        self._fit_codes(codes)
        return self.bind(model)

    def bind(self, model: nn.Module) -> LatentSampler:
        """Use ``model``'s decoder for :meth:`sample` (done by :meth:`fit` and on load)."""
        self._check_model(model)
        self._model[:] = [model]
        return self

    def _check_model(self, model: nn.Module) -> None:
        """Raise if the sampler cannot work with ``model`` (subclasses add conditions)."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")

    @property
    def model(self) -> nn.Module:
        """The model whose codes were fitted (raises before :meth:`fit` / :meth:`bind`)."""
        if not self._model:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted: call sampler.fit(model, data) first"
            )
        return self._model[0]

    @abstractmethod
    def _fit_codes(self, codes: torch.Tensor) -> None:
        """Fit the density to ``codes [N, D]`` (float32)."""

    def _standardize(self, codes: torch.Tensor) -> torch.Tensor:
        """Set the buffers ``shift`` (mean) and ``scale`` (standard deviation, >= 1e-6) of the
        codes ``[N, D]`` and return them standardised (samplers that train a network)."""
        self.shift = codes.mean(dim=0)
        if codes.shape[0] > 1:
            self.scale = codes.std(dim=0).clamp_min(1e-6)
        return (codes - self.shift) / self.scale

    @abstractmethod
    def _allocate(self, latent_dim: int) -> None:
        """Create parameters and buffers for codes of size ``latent_dim`` (before loading)."""

    # -- sampling ---------------------------------------------------------------------------
    @abstractmethod
    def sample_latents(
        self, num_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Codes ``[num_samples, D]`` drawn from the fitted density."""

    @torch.no_grad()
    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder outputs ``[num_samples, ...]`` (parameters of ``p(x | z)``) for fitted codes."""
        num_samples = check_num_samples(num_samples, "num_samples")
        model = self.model
        z = self.sample_latents(num_samples, generator)
        return decode_codes(model, z.to(next(iter(model.parameters()), z).device))

    # -- files ------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``sampler.json`` (name, options, latent size) and ``sampler.safetensors``."""
        from ..pretrained import _safetensors_torch

        if self.latent_dim is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: nothing to save")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file = _safetensors_torch().save_file
        atomic_save_file(folder / SAMPLER_WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp))
        meta = {
            "format": _FORMAT,
            "sampler": self.registry_name,
            "config": self.config,
            "latent_dim": self.latent_dim,
        }
        atomic_write_json(folder / SAMPLER_CONFIG_FILE, meta)
        return folder


def training_options(num_steps: int, batch_size: int, lr: float, seed: int) -> dict[str, Any]:
    """The checked Adam settings of a sampler that trains a network on the codes."""
    if isinstance(lr, bool) or not (isinstance(lr, int | float) and 0 < lr < math.inf):
        raise ValueError(f"lr must be a finite float > 0, got {lr!r}")
    return {
        "num_steps": check_positive_int(num_steps, "num_steps"),
        "batch_size": check_positive_int(batch_size, "batch_size"),
        "lr": float(lr),
        "seed": int(seed),
    }


def _read_sampler_meta(folder: Path) -> dict[str, Any]:
    path = folder / SAMPLER_CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no fitted sampler in {folder}: {SAMPLER_CONFIG_FILE} is missing")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SamplerError(f"{path} is not valid JSON ({error})") from None
    ok = (
        isinstance(meta, dict)
        and meta.get("format") == _FORMAT
        and isinstance(meta.get("sampler"), str)
        and isinstance(meta.get("config"), dict)
        and isinstance(meta.get("latent_dim"), int)
        and not isinstance(meta.get("latent_dim"), bool)
        and meta["latent_dim"] > 0
    )
    if not ok:
        raise SamplerError(
            f"{path} is not a sampler file: expected format {_FORMAT!r} with 'sampler', "
            "'config' and a positive integer 'latent_dim'"
        )
    return meta


def load_sampler(directory: str | os.PathLike[str], model: nn.Module) -> LatentSampler:
    """Rebuild a sampler written by :meth:`LatentSampler.save` and bind it to ``model``."""
    from ..pretrained import _safetensors_torch

    folder = Path(directory)
    meta = _read_sampler_meta(folder)
    cls = _sampler_class(meta["sampler"])
    try:
        sampler = cls(**meta["config"])
    except TypeError as error:
        raise SamplerError(
            f"{folder / SAMPLER_CONFIG_FILE}: bad sampler options ({error})"
        ) from None
    sampler.latent_dim = meta["latent_dim"]
    sampler._allocate(meta["latent_dim"])
    weights = folder / SAMPLER_WEIGHTS_FILE
    try:
        state = _safetensors_torch().load_file(str(weights))
    except FileNotFoundError:
        raise FileNotFoundError(f"{weights} is missing") from None
    except Exception as error:  # safetensors raises its own error types for bad files
        raise SamplerError(f"{weights} is not a readable safetensors file ({error})") from None
    bad = [name for name, value in state.items() if not bool(torch.isfinite(value).all())]
    if bad:
        raise SamplerError(f"{weights}: tensor {bad[0]!r} holds NaN or inf")
    try:
        sampler.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise SamplerError(f"{weights} does not match the sampler ({first[-1].strip()})") from None
    return sampler.bind(model)


@contextlib.contextmanager
def seeded_module_init(seed: int) -> Iterator[None]:
    """Run a block with the global RNG seeded by ``seed``; its previous state is restored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
