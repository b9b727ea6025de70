"""``BaseAutoencoder``: the contract every model of the library follows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from .._arguments import recording_arguments
from .._validation import in_value_check_scope
from ._model_output import ModelOutput

if TYPE_CHECKING:
    from ..loss import LossResult


class BaseAutoencoder(nn.Module, ABC):
    """Abstract autoencoder: three methods and a loss.

    Subclasses implement

    * ``_encode(x, *args, **kwargs) -> ModelOutput`` (at least a latent ``z``),
    * ``_decode(z, *args, **kwargs) -> ModelOutput`` (at least a reconstruction ``x_hat``),
    * ``forward(x, *args, **kwargs) -> ModelOutput`` (everything the loss needs),
    * ``compute_loss(x, output, *args, **kwargs) -> LossResult``.

    ``_encode``, ``_decode`` and ``forward`` are the training paths: they run in whatever grad
    mode is active. :meth:`encode` and :meth:`decode` are the inference helpers: they call the
    training paths under :func:`torch.no_grad` (not ``inference_mode``, so their outputs can be
    fed to a model that is trained with gradients, e.g. a frozen feature extractor) and leave
    every module's train/eval mode as it is.

    :meth:`build` materialises lazy layers (``nn.LazyLinear`` ...) with one forward pass in eval
    mode. ``load_state_dict`` works on an unbuilt model too: PyTorch's lazy-module load hook
    materialises lazy parameters from the loaded tensors.

    **Value checks per model.** :attr:`value_checks` is this model's switch for the NaN/inf and
    support checks of its ``forward`` and ``compute_loss`` (like ``validate_args`` of a
    ``torch.distributions`` object): ``None`` (the default) follows
    :func:`pyautoencoder.set_value_checks`. Every subclass's ``forward`` and ``compute_loss``
    run in a :class:`~pyautoencoder._validation.ValueCheckScope`, so all the checks of one call
    are settled together with one host read.

    :attr:`capabilities` declares what else a model offers, so that tools (the report, the
    command line) ask the model instead of guessing from its type or its methods.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()
    """What the model offers beyond the three methods and the loss (a subclass declares it):

    * ``"code"``: ``encode(x).z`` is a deterministic code ``[B, D]`` and ``decode(z)`` maps codes
      back (the deterministic family);
    * ``"posterior"``: ``posterior(x)`` is ``q(z | x)`` (batch ``[B]``, event ``[D_z]``) and
      ``decode(z)`` takes ``z [N, S, D_z]`` (the VAE family);
    * ``"prior_sampling"``: ``sample(num_samples)`` decodes draws from a prior or a fitted code
      density;
    * ``"conditional"``: ``forward``, ``posterior``, ``reconstruct``, ``decode`` and ``sample``
      also take a condition ``y`` (integer labels in ``[0, condition_dim)``), and the model has
      a ``condition_dim`` attribute;
    * ``"codebook"``: discrete codes, ``encode(x).indices`` in ``[0, num_codes)``;
    * ``"sparse_code"``: ``model(x).z`` is a sparse, overcomplete code ``[B, M]`` over a
      dictionary (the sparse autoencoders of :mod:`pyautoencoder.dictionary`).
    """

    _SCOPED_METHODS = ("forward", "compute_loss")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if callable(init) and not getattr(init, "_records_arguments", False):
            cls.__init__ = recording_arguments(init)  # type: ignore[method-assign]
        for name in cls._SCOPED_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_value_check_scoped", False):
                setattr(cls, name, in_value_check_scope(method))

    @property
    def value_checks(self) -> bool | None:
        """This model's value-check switch: ``True``, ``False`` or ``None`` (the default's)."""
        return self.__dict__.get("_value_checks")

    @value_checks.setter
    def value_checks(self, enabled: bool | None) -> None:
        if enabled is not None and not isinstance(enabled, bool):
            raise TypeError(
                f"value_checks must be True, False or None (follow "
                f"pyautoencoder.set_value_checks), got {type(enabled).__name__} {enabled!r}"
            )
        self.__dict__["_value_checks"] = enabled

    @abstractmethod
    def _encode(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ModelOutput:
        """Encode ``x`` (training path, gradients follow the global grad mode)."""

    @abstractmethod
    def _decode(self, z: torch.Tensor, *args: Any, **kwargs: Any) -> ModelOutput:
        """Decode ``z`` (training path, gradients follow the global grad mode)."""

    @abstractmethod
    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ModelOutput:
        """Full training pass: everything :meth:`compute_loss` needs."""

    @abstractmethod
    def compute_loss(
        self, x: torch.Tensor, output: ModelOutput, *args: Any, **kwargs: Any
    ) -> LossResult:
        """Return the objective to minimise and detached scalar diagnostics."""

    def encode(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ModelOutput:
        """Call :meth:`_encode` under ``torch.no_grad()``; module modes are left unchanged."""
        with torch.no_grad():
            return self._encode(x, *args, **kwargs)

    def decode(self, z: torch.Tensor, *args: Any, **kwargs: Any) -> ModelOutput:
        """Call :meth:`_decode` under ``torch.no_grad()``; module modes are left unchanged."""
        with torch.no_grad():
            return self._decode(z, *args, **kwargs)

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        """The single forward pass :meth:`build` runs; models may pass extra arguments."""
        self(input_sample)

    def build(self, input_sample: torch.Tensor) -> None:
        """Materialise lazy layers with one forward pass on a representative batch.

        The pass runs under ``torch.no_grad()`` with every submodule in eval mode, so BatchNorm
        running statistics are not updated and dropout is off. Afterwards each submodule's
        ``training`` flag is restored individually, also when the pass raises.

        Parameters
        ----------
        input_sample : torch.Tensor
            A batch shaped like the training data, ``[B, ...]``; only its shape matters.
        """
        modes = [(module, module.training) for module in self.modules()]
        try:
            self.eval()
            with torch.no_grad():
                self._build_pass(input_sample)
        finally:
            for module, was_training in modes:
                module.training = was_training
