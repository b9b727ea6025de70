r"""Regularised autoencoder with an ex-post density estimator (Ghosh et al. 2020)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Literal

import torch
from torch import distributions as D
from torch import nn

from .._validation import check_num_samples, check_positive_int, check_weight
from ..loss._result import LossResult
from ..registry import register_model
from ._gmm import fit_gaussian_mixture
from ._jacobian import jacobian_frobenius_sq
from ._outputs import AEEncodeOutput, AEOutput
from ._regularized import LikelihoodAE, LikelihoodSpec

Regularizer = Literal["gradient_penalty", "weight_decay", "none"]


def decoder_jacobian_frobenius_sq(decoder: nn.Module, z: torch.Tensor) -> torch.Tensor:
    r"""``||d decoder(z_b) / d z_b||_F^2`` per example, ``z [B, D_z]`` -> ``[B]``.

    One Jacobian-vector product per latent dimension (forward mode, see
    :func:`~pyautoencoder.vanilla._jacobian.jacobian_frobenius_sq`); keeps its graph, so it
    is differentiable w.r.t. the decoder's parameters and ``z``.
    """
    return jacobian_frobenius_sq(decoder, z, mode="forward")[1]


@register_model("rae", latent="code", latent_arg="latent_dim")
class RAE(LikelihoodAE):
    r"""Regularised autoencoder (RAE; Ghosh, Sajjadi, Vergari, Black & Scholkopf 2020).

    *From variational to deterministic autoencoders*, eq. (9): a deterministic autoencoder
    with an L2 penalty on the code and a smoothness regulariser on the decoder,

    .. math::

        \mathcal{L} = \frac1B \sum_b \Big( -\sum_j \log p(x_{bj} \mid \hat x_{bj})
            + \beta\, \tfrac12 \lVert z_b \rVert_2^2 \Big) + \lambda\, \mathcal{L}_{\text{REG}},

    ``L_REG`` one of: ``"gradient_penalty"`` (RAE-GP; batch mean of the squared Frobenius
    norm of the decoder Jacobian ``||d x_hat / d z||_F^2`` at the codes — the paper writes
    ``||grad D(E(x))||^2``; for a vector-valued decoder we take all output features,
    :func:`decoder_jacobian_frobenius_sq`, one forward-mode product per latent dimension on a
    second decoder pass),
    ``"weight_decay"`` (RAE-L2; ``sum ||theta||^2`` over the decoder's parameters) or ``"none"``
    (RAE without regulariser). Spectral normalisation (RAE-SN) is a property of the decoder:
    wrap its layers in :func:`torch.nn.utils.parametrizations.spectral_norm` and use ``"none"``.

    **Sampling** (sec. 4, "ex-post density estimation"): after training, :meth:`fit_density`
    fits a Gaussian mixture (full covariances, EM in torch) to the codes of the training data;
    :meth:`sample` decodes draws from it. The mixture's parameters are buffers, so a fitted
    model's ``state_dict`` carries them.

    Shapes: ``x [B, ...]``, ``z [B, latent_dim]``. Diagnostics (detached 0-dim):
    ``log_likelihood``, ``code_norm_sq`` (mean ``0.5 ||z||^2``), ``decoder_regularizer``.

    Parameters
    ----------
    encoder, decoder : nn.Module
        ``encoder(x) -> z [B, latent_dim]``; ``decoder(z) -> x_hat``.
    latent_dim : int
        ``D_z``.
    code_weight : float
        ``beta`` >= 0 (default 1: with it the code term is the part of a VAE's KL that a
        deterministic code keeps).
    regularizer : {"gradient_penalty", "weight_decay", "none"}
        The decoder regulariser (default ``"gradient_penalty"``).
    regularizer_weight : float
        ``lambda`` >= 0 (default 0.01).
    num_components : int
        Components of the ex-post Gaussian mixture (default 10, as in the paper).
    likelihood : str, LikelihoodType or Likelihood
        Observation model (default ``"gaussian"``).
    """

    density_logits: torch.Tensor
    density_means: torch.Tensor
    density_scale_tril: torch.Tensor
    density_fitted: torch.Tensor

    # sample() draws from the code density fitted by fit_density after training
    capabilities: ClassVar[frozenset[str]] = frozenset({"code", "prior_sampling"})

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        *,
        code_weight: float = 1.0,
        regularizer: Regularizer = "gradient_penalty",
        regularizer_weight: float = 0.01,
        num_components: int = 10,
        likelihood: LikelihoodSpec = "gaussian",
    ) -> None:
        super().__init__(encoder, decoder, likelihood)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.code_weight = float(check_weight(code_weight, "code_weight"))
        if regularizer not in ("gradient_penalty", "weight_decay", "none"):
            raise ValueError(
                "regularizer must be 'gradient_penalty', 'weight_decay' or 'none', got "
                f"{regularizer!r}"
            )
        self.regularizer: Regularizer = regularizer
        # Resolved once: the training step branches on bools, not on the string.
        self._gradient_penalty = regularizer == "gradient_penalty"
        self._weight_decay = regularizer == "weight_decay"
        self.regularizer_weight = float(check_weight(regularizer_weight, "regularizer_weight"))
        self.num_components = check_positive_int(num_components, "num_components")
        k, d = self.num_components, self.latent_dim
        self.register_buffer("density_logits", torch.zeros(k))
        self.register_buffer("density_means", torch.zeros(k, d))
        self.register_buffer("density_scale_tril", torch.eye(d).expand(k, d, d).clone())
        self.register_buffer("density_fitted", torch.tensor(False))

    def _encode(self, x: torch.Tensor) -> AEEncodeOutput:
        """``AEEncodeOutput(z [B, latent_dim])``; another code shape raises ``ValueError``."""
        z = self.encoder(x)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"RAE needs codes of shape [B, latent_dim] = [B, {self.latent_dim}] from the "
                f"encoder, got {tuple(z.shape)}; end the encoder in {self.latent_dim} features "
                "(nn.Flatten() then nn.Linear)"
            )
        return AEEncodeOutput(z=z)

    def decoder_regularizer(self, z: torch.Tensor) -> torch.Tensor:
        """``L_REG`` (0-dim) for the codes ``z [B, D_z]``; zero for ``"none"``."""
        if self._gradient_penalty:
            return decoder_jacobian_frobenius_sq(self.decoder, z).mean()
        if self._weight_decay:
            return sum((p.square().sum() for p in self.decoder.parameters()), z.new_zeros(()))
        return z.new_zeros(())

    def compute_loss(
        self,
        x: torch.Tensor,
        output: AEOutput,
        likelihood: LikelihoodSpec | None = None,
    ) -> LossResult:
        """NLL + ``code_weight * 0.5 ||z||^2`` + ``regularizer_weight * L_REG``; see the class."""
        log_lik = self.mean_log_likelihood(x, output.x_hat, likelihood)
        code_norm = 0.5 * output.z.square().sum(dim=1).mean()
        regularizer = self.decoder_regularizer(output.z)
        objective = -log_lik + self.code_weight * code_norm
        objective = objective + self.regularizer_weight * regularizer
        return LossResult(
            objective=objective,
            diagnostics={
                "log_likelihood": log_lik.detach(),
                "code_norm_sq": code_norm.detach(),
                "decoder_regularizer": regularizer.detach(),
            },
        )

    # ------------------------------------------------------------ ex-post density
    @torch.no_grad()
    def fit_density(
        self,
        data: torch.Tensor | Iterable[torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor]],
        *,
        batch_size: int = 1024,
        max_iter: int = 200,
        tol: float = 1e-6,
        seed: int = 0,
    ) -> float:
        """Fit the Gaussian mixture to the codes of ``data``; returns its mean log-density.

        ``data`` is a tensor of inputs ``[N, ...]`` (encoded in batches of ``batch_size``) or an
        iterable of batches (a ``DataLoader``; the first element of tuple batches is used).
        Codes are computed without grad (as :meth:`encode`, modules in their current mode: call
        ``model.eval()`` first if it has dropout or BatchNorm).
        """
        batches: Iterable[object]
        if isinstance(data, torch.Tensor):
            size = check_positive_int(batch_size, "batch_size")
            batches = data.split(size)
        else:
            batches = data
        codes = []
        for batch in batches:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            if not isinstance(inputs, torch.Tensor):
                raise TypeError(f"batches must be tensors, got {type(inputs).__name__}")
            codes.append(self._encode(inputs).z)  # under no_grad
        if not codes:
            raise ValueError("fit_density got no data")
        fit = fit_gaussian_mixture(
            torch.cat(codes), self.num_components, max_iter=max_iter, tol=tol, seed=seed
        )
        dtype = self.density_means.dtype
        self.density_logits.copy_(fit.weights.log().to(dtype))
        self.density_means.copy_(fit.means.to(dtype))
        self.density_scale_tril.copy_(fit.scale_tril.to(dtype))
        self.density_fitted.fill_(True)
        return fit.mean_log_likelihood

    def density(self) -> D.MixtureSameFamily:
        """The fitted code density as a distribution (event shape ``[D_z]``)."""
        if not bool(self.density_fitted):
            raise RuntimeError(
                "the RAE has no code density yet: call model.fit_density(training_inputs) "
                "after training"
            )
        components = D.MultivariateNormal(self.density_means, scale_tril=self.density_scale_tril)
        return D.MixtureSameFamily(D.Categorical(logits=self.density_logits), components)

    def sample(self, num_samples: int) -> torch.Tensor:
        """Decoder outputs ``[num_samples, ...]`` for codes drawn from the fitted density."""
        num_samples = check_num_samples(num_samples, "num_samples")
        with torch.no_grad():
            z = self.density().sample((num_samples,))  # [N, D_z]
            return self._decode(z).x_hat
