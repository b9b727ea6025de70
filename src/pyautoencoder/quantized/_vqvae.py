r"""VQ-VAE: an autoencoder with a discrete, vector-quantised latent (van den Oord et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from .._base import BaseAutoencoder, ModelOutput
from .._validation import check_module
from ..distributions._likelihood import Likelihood, LikelihoodType, get_likelihood
from ..loss._result import LossResult
from ..registry import register_model
from ..vanilla._reconstruction import reconstruction_log_likelihood
from ._helpers import renamed_weight
from ._prior import CodePrior
from ._protocol import Quantizer, QuantizerOutput
from ._specs import quantizer_from_spec
from ._vector_quantizer import VectorQuantizer

_VQ_DEFAULTS: dict[str, object] = {
    "num_codes": None,
    "commitment_weight": 0.25,
    "ema": True,
    "decay": 0.99,
    "eps": 1e-5,
    "cosine": False,
    "dead_code_steps": 100,
    "dead_code_threshold": None,
    "sync_statistics": True,
}


@dataclass(slots=True, repr=False)
class VQVAEEncodeOutput(ModelOutput):
    """``z``: quantised codes ``[B, D, *S]``; ``indices``: ``[B, *S]``; ``z_e``: encoder output."""

    z: torch.Tensor
    indices: torch.Tensor
    z_e: torch.Tensor


@dataclass(slots=True, repr=False)
class VQVAEDecodeOutput(ModelOutput):
    """``x_hat``: the decoder output, ``[B, ...]``."""

    x_hat: torch.Tensor


@dataclass(slots=True, repr=False)
class VQVAEOutput(ModelOutput):
    """A forward pass: reconstruction, quantised codes, indices, encoder output, and the
    quantizer's :class:`~pyautoencoder.quantized.QuantizerOutput` (``quantization``)."""

    x_hat: torch.Tensor
    z: torch.Tensor
    indices: torch.Tensor
    z_e: torch.Tensor
    quantization: QuantizerOutput


@register_model("vqvae", latent="code", latent_arg="code_dim")
class VQVAE(BaseAutoencoder):
    r"""Vector-quantised autoencoder ``x -> z_e -> e_k -> x_hat`` (van den Oord et al. 2017).

    ``z_e = encoder(x)`` is ``[B, D]`` or channel-first ``[B, D, *S]`` (``D = code_dim``); a
    quantizer replaces each ``D``-vector by a code, and the decoder maps the quantised
    ``z [B, D, *S]`` to ``x_hat``. The quantizer is any
    :class:`~pyautoencoder.quantized.Quantizer` (``quantizer=FSQ([8, 5, 5, 5], dim=8)``, or a
    spec string such as ``"fsq:8,5,5,5"``, ``"rvq:8"``, ``"lfq:10"``, see
    :func:`~pyautoencoder.quantized.quantizer_from_spec`); by default a
    :class:`~pyautoencoder.quantized.VectorQuantizer` built from the VQ options below, which
    replaces each vector by its nearest of ``num_codes`` codes (straight-through gradients).
    Objective (eq. 3 of the paper, reconstruction as a likelihood of the library):

    .. math::

        \mathcal{L} = -\frac1B \sum_b \sum_j \log p(x_{bj} \mid \hat x_{bj})
            + \lVert \mathrm{sg}[z_e] - e \rVert^2 + \beta \lVert z_e - \mathrm{sg}[e] \rVert^2,

    (``beta = commitment_weight``), VQ terms summed over each example's code elements and
    averaged over the batch; with the EMA codebook (default) the codebook term is replaced by
    the EMA update run in the training-mode forward. With another quantizer the VQ terms are
    replaced by that quantizer's ``loss``. ``likelihood`` is any registered likelihood
    (``"gaussian"``: ``0.5 * squared error``; ``"bernoulli"``: logits; ...).

    Diagnostics (detached 0-dim): ``log_likelihood``, ``vq_loss`` (the quantizer's weighted
    loss), and the quantizer's diagnostics: always ``perplexity`` (``exp`` entropy of the
    batch's code frequencies) and ``codes_used`` (fraction of the codebook chosen in the
    batch); ``commitment_loss`` and ``codebook_loss`` for the default quantizer.

    The inverse API: :meth:`encode` returns ``indices`` with the quantised codes, and
    :meth:`decode` accepts either float codes ``[B, D, *S]`` or integer ``indices [B, *S]``.
    **Dead-code resets are on by default** (``dead_code_steps=100``, where the bare
    :class:`~pyautoencoder.quantized.VectorQuantizer` has ``None``): a code that no vector chose
    in 100 consecutive training steps is replaced by an encoder output of the batch. Without
    resets most codes of a VQ-VAE are never used ("codebook collapse"); on MNIST-10k (K = 512,
    10 epochs, ``benchmarks/quantized_mnist.py``) one 16-d code per image used 13.5 % of the
    codebook (held-out MSE 0.044, NLL 150 nats) and 89 % with the default reset (MSE 0.038,
    NLL 136 nats). 100 steps rather than fewer: a code in use is rarely chosen in no batch for
    that long (with ``n`` vectors per batch and uniform use, the chance is about
    ``exp(-100 n / K)``), so live codes are not thrown away. The reset runs in eager and
    compiled training steps alike, and under ``torch.distributed`` all processes agree on it.
    ``dead_code_steps=None`` gives the paper's VQ-VAE without resets.

    Parameters
    ----------
    encoder, decoder : nn.Module
        ``encoder(x) -> z_e [B, D, *S]``; ``decoder(z) -> x_hat``.
    num_codes : int, optional
        Codebook size ``K`` of the default quantizer (default 512); with a spec string, the
        ``K`` of ``"vq"``, ``"rvq:Q"``, ``"gvq:G"`` and ``"gumbel"`` when the spec names none.
    code_dim : int, optional
        ``D``; must equal dim 1 of the encoder output (default 64, or ``quantizer.dim``).
    quantizer : Quantizer or str, optional
        The quantizer, or a spec string built with ``dim = code_dim``; the VQ options below
        then keep their defaults.
    dead_code_steps : int or None
        Reset codes unused for this many training steps (default 100; ``None``: never).
    commitment_weight, ema, decay, eps, cosine, dead_code_threshold, sync_statistics
        Options of the default :class:`~pyautoencoder.quantized.VectorQuantizer`
        (``sync_statistics``: sum the codebook statistics over processes under
        ``torch.distributed``, default on). ``beta=`` is the deprecated name of
        ``commitment_weight`` (warns).
    likelihood : str, LikelihoodType or Likelihood
        Used when ``compute_loss`` gets none (default ``"gaussian"``).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"codebook", "prior_sampling"})

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        num_codes: int | None = None,
        code_dim: int | None = None,
        *,
        quantizer: Quantizer | str | None = None,
        commitment_weight: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        cosine: bool = False,
        dead_code_steps: int | None = 100,
        dead_code_threshold: float | None = None,
        sync_statistics: bool = True,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        beta: float | None = None,
    ) -> None:
        super().__init__()
        check_module(encoder, "encoder")
        check_module(decoder, "decoder")
        self.encoder = encoder
        self.decoder = decoder
        if beta is not None:
            commitment_weight = renamed_weight(beta, commitment_weight, 0.25)  # type: ignore[assignment]
        options: dict[str, object] = {
            "commitment_weight": commitment_weight,
            "ema": ema,
            "decay": decay,
            "eps": eps,
            "cosine": cosine,
            "dead_code_steps": dead_code_steps,
            "dead_code_threshold": dead_code_threshold,
            "sync_statistics": sync_statistics,
        }
        self.quantizer: Quantizer = self._make_quantizer(quantizer, num_codes, code_dim, options)
        self.likelihood = get_likelihood(likelihood)
        self.code_prior = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "code_prior":  # the property's setter, not nn.Module's registration
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    @property
    def code_prior(self) -> CodePrior | None:
        """The prior over code indices that :meth:`sample` draws from (``None``: none yet).

        Not a submodule: the VQ-VAE's ``state_dict``, checkpoints and ``save_pretrained``
        stay those of the autoencoder (the CLI saves the prior beside the run, in
        ``RUN/prior/``), and :meth:`sample` moves the prior to the decoder's device.
        """
        return self.__dict__.get("_code_prior")

    @code_prior.setter
    def code_prior(self, prior: CodePrior | None) -> None:
        if prior is not None and not isinstance(prior, CodePrior):
            raise TypeError(
                "code_prior must be a pyautoencoder.quantized.CodePrior or None, got "
                f"{type(prior).__name__}"
            )
        self.__dict__["_code_prior"] = prior  # kept outside the module tree

    @staticmethod
    def _make_quantizer(
        quantizer: Quantizer | str | None,
        num_codes: int | None,
        code_dim: int | None,
        options: dict[str, object],
    ) -> Quantizer:
        if quantizer is None:
            return VectorQuantizer(
                512 if num_codes is None else num_codes,
                64 if code_dim is None else code_dim,
                **options,  # type: ignore[arg-type]
            )
        changed = [k for k, v in options.items() if v != _VQ_DEFAULTS[k]]
        if changed:
            raise ValueError(
                f"{', '.join(changed)} configure the default VectorQuantizer; with quantizer="
                f"{quantizer!r} set them on the quantizer itself"
            )
        if isinstance(quantizer, str):
            return quantizer_from_spec(
                quantizer, 64 if code_dim is None else code_dim, num_codes=num_codes
            )
        if not isinstance(quantizer, Quantizer):
            raise TypeError(
                "quantizer must be a pyautoencoder.quantized.Quantizer or a spec string such "
                f"as 'fsq:8,5,5,5', got {type(quantizer).__name__}"
            )
        if num_codes is not None and num_codes != quantizer.num_codes:
            raise ValueError(
                f"num_codes={num_codes} disagrees with the quantizer's num_codes = "
                f"{quantizer.num_codes}; leave num_codes out"
            )
        if code_dim is not None and code_dim != quantizer.dim:
            raise ValueError(
                f"code_dim={code_dim} disagrees with the quantizer's dim = {quantizer.dim}; "
                "build the quantizer with the encoder's output size"
            )
        return quantizer

    @property
    def num_codes(self) -> int:
        """The codebook size ``K`` (codes per codebook)."""
        return self.quantizer.num_codes

    @property
    def code_dim(self) -> int:
        """The code size ``D`` (channels of the encoder output)."""
        return self.quantizer.dim

    def _quantize(self, x: torch.Tensor, update: bool) -> tuple[torch.Tensor, QuantizerOutput]:
        z_e = self.encoder(x)  # [B, D, *S]
        if not isinstance(z_e, torch.Tensor):
            raise TypeError(f"encoder must return a tensor, got {type(z_e).__name__}")
        if z_e.dim() < 2 or z_e.shape[1] != self.code_dim:
            got = z_e.shape[1] if z_e.dim() >= 2 else "nothing"
            raise ValueError(
                f"the encoder output must have code_dim = {self.code_dim} features/channels at "
                f"dim 1, got shape {tuple(z_e.shape)} with {got} there; end the encoder in "
                f"{self.code_dim} outputs or build VQVAE(..., code_dim={got})"
            )
        return z_e, self.quantizer(z_e, update=update)

    def _encode(self, x: torch.Tensor) -> VQVAEEncodeOutput:
        """Quantised codes, their indices and the encoder output; never updates the codebook."""
        z_e, quantization = self._quantize(x, update=False)
        return VQVAEEncodeOutput(z=quantization.z_q, indices=quantization.indices, z_e=z_e)

    def _decode(self, z: torch.Tensor) -> VQVAEDecodeOutput:
        """Decode float codes ``[B, D, *S]`` or integer indices ``[B, *S]``."""
        if not z.is_floating_point():
            z = self.quantizer.codes_from_indices(z)
        elif z.dim() < 2 or z.shape[1] != self.code_dim:
            raise ValueError(
                f"z must be codes [B, D, ...] with D = code_dim = {self.code_dim} or integer "
                f"indices [B, ...], got a float tensor of shape {tuple(z.shape)}"
            )
        return VQVAEDecodeOutput(x_hat=self.decoder(z))

    def forward(self, x: torch.Tensor, update_codebook: bool | None = None) -> VQVAEOutput:
        """Encode, quantise, decode.

        ``update_codebook`` (default ``None`` = ``self.training``) runs the EMA step, the usage
        counters and the dead-code reset of the quantizer.
        """
        update = self.training if update_codebook is None else bool(update_codebook)
        z_e, quantization = self._quantize(x, update=update)
        return VQVAEOutput(
            x_hat=self.decoder(quantization.z_q),
            z=quantization.z_q,
            indices=quantization.indices,
            z_e=z_e,
            quantization=quantization,
        )

    def sample(self, num_samples: int, temperature: float = 1.0) -> torch.Tensor:
        """Decoder outputs ``[N, ...]`` for index grids drawn from the attached code prior.

        Needs ``self.code_prior`` (a trained :class:`~pyautoencoder.quantized.CodePrior`,
        attached by :func:`~pyautoencoder.quantized.train_code_prior` or by assignment).

        Raises
        ------
        RuntimeError
            When no code prior is attached.
        """
        if self.code_prior is None:
            raise RuntimeError(
                f"{type(self).__name__} has no prior over its discrete codes yet: train one "
                "with 'pyautoencoder train-prior RUN' or quantized.train_code_prior(model, x)"
            )
        device = next((p.device for p in self.decoder.parameters()), None)
        prior = self.code_prior if device is None else self.code_prior.to(device)
        with torch.no_grad():
            indices = prior.sample(num_samples, temperature=temperature)
            return self._decode(indices).x_hat

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder output for the quantised code of ``x`` (no grad, no codebook update)."""
        with torch.no_grad():
            return self._decode(self._encode(x).z).x_hat

    def compute_loss(
        self,
        x: torch.Tensor,
        output: VQVAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """Reconstruction NLL (batch mean) plus the quantizer loss of the forward pass."""
        spec = self.likelihood if likelihood is None else likelihood
        log_lik = reconstruction_log_likelihood(x, output.x_hat, spec).mean()  # []
        quantization = output.quantization
        objective = -log_lik + quantization.loss
        return LossResult(
            objective=objective,
            diagnostics={
                "log_likelihood": log_lik.detach(),
                "vq_loss": quantization.loss.detach(),
                **quantization.diagnostics,
            },
        )
