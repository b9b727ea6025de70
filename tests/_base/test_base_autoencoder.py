"""``BaseAutoencoder``: abstract API, no-grad encode/decode, ``build``, lazy loading (C-BASE)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from pyautoencoder._base import BaseAutoencoder, ModelOutput
from pyautoencoder.loss import LossResult

pytestmark = pytest.mark.usefixtures("seeded")


@dataclass(slots=True, repr=False)
class TinyOutput(ModelOutput):
    x_hat: torch.Tensor
    z: torch.Tensor


class TinyAutoencoder(BaseAutoencoder):
    """A minimal concrete subclass that counts forward calls and records modes during them."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.forward_calls = 0
        self.seen_training: list[bool] = []
        self.seen_grad: list[bool] = []
        self.fail = False

    def _encode(self, x: torch.Tensor) -> TinyOutput:
        z = self.encoder(x)
        return TinyOutput(x_hat=z, z=z)

    def _decode(self, z: torch.Tensor) -> TinyOutput:
        return TinyOutput(x_hat=self.decoder(z), z=z)

    def forward(self, x: torch.Tensor) -> TinyOutput:
        self.forward_calls += 1
        self.seen_training = [m.training for m in self.modules()]
        self.seen_grad.append(torch.is_grad_enabled())
        z = self._encode(x).z
        if self.fail:
            raise RuntimeError("forward failed on purpose")
        return TinyOutput(x_hat=self._decode(z).x_hat, z=z)

    def compute_loss(self, x: torch.Tensor, output: TinyOutput) -> LossResult:
        objective = 0.5 * (x - output.x_hat).square().sum(dim=1).mean()
        return LossResult(objective=objective, diagnostics={"nll": objective.detach()})


def _lazy_model() -> TinyAutoencoder:
    encoder = nn.Sequential(nn.LazyLinear(4), nn.LazyBatchNorm1d(), nn.Dropout(0.5), nn.Tanh())
    decoder = nn.Sequential(nn.LazyLinear(6))
    return TinyAutoencoder(encoder, decoder)


def _has_lazy(model: nn.Module) -> bool:
    return any(
        isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()
    ) or any(isinstance(b, nn.parameter.UninitializedBuffer) for b in model.buffers())


# C-BASE-1 -------------------------------------------------------------------------------------


def test_c_base_1_cannot_be_instantiated() -> None:
    """C-BASE-1: BaseAutoencoder is abstract (TypeError) and an nn.Module."""
    assert issubclass(BaseAutoencoder, nn.Module)
    with pytest.raises(TypeError):
        BaseAutoencoder()  # type: ignore[abstract]


def test_c_base_1_abstract_methods_and_signatures() -> None:
    """C-BASE-1: the four abstract methods; ``compute_loss``'s second parameter is ``output``."""
    assert BaseAutoencoder.__abstractmethods__ == {"_encode", "_decode", "forward", "compute_loss"}
    params = list(inspect.signature(BaseAutoencoder.compute_loss).parameters)
    assert params[:3] == ["self", "x", "output"]
    for name in ("_encode", "_decode", "forward"):
        kinds = [
            p.kind for p in inspect.signature(getattr(BaseAutoencoder, name)).parameters.values()
        ]
        assert inspect.Parameter.VAR_POSITIONAL in kinds and inspect.Parameter.VAR_KEYWORD in kinds


def test_c_base_1_subclass_missing_a_method_cannot_be_instantiated() -> None:
    """C-BASE-1: a subclass that leaves ``compute_loss`` abstract is still abstract."""

    class NoLoss(BaseAutoencoder):
        def _encode(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ModelOutput:
            return ModelOutput()

        def _decode(self, z: torch.Tensor, *args: Any, **kwargs: Any) -> ModelOutput:
            return ModelOutput()

        def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ModelOutput:
            return ModelOutput()

    with pytest.raises(TypeError):
        NoLoss()  # type: ignore[abstract]


def test_c_base_1_compute_loss_returns_loss_result() -> None:
    """C-BASE-1: a concrete model's ``compute_loss(x, output=...)`` returns a LossResult."""
    model = TinyAutoencoder(nn.Linear(6, 3), nn.Linear(3, 6))
    x = torch.randn(4, 6)
    result = model.compute_loss(x, output=model(x))
    assert isinstance(result, LossResult)


# C-BASE-2 -------------------------------------------------------------------------------------


def test_c_base_2_training_paths_follow_the_grad_mode() -> None:
    """C-BASE-2: ``_encode``, ``_decode``, ``forward`` require grad when parameters do."""
    model = TinyAutoencoder(nn.Linear(6, 3), nn.Linear(3, 6))
    x = torch.randn(4, 6)
    assert model._encode(x).z.requires_grad
    assert model._decode(torch.randn(4, 3)).x_hat.requires_grad
    assert model(x).x_hat.requires_grad
    with torch.no_grad():
        assert not model(x).x_hat.requires_grad


# C-BASE-3 -------------------------------------------------------------------------------------


def test_c_base_3_encode_decode_are_no_grad_not_inference() -> None:
    """C-BASE-3: outputs don't require grad and are ordinary (non-inference) tensors."""
    model = TinyAutoencoder(nn.Linear(6, 3), nn.Linear(3, 6))
    z = model.encode(torch.randn(4, 6)).z
    x_hat = model.decode(torch.randn(4, 3)).x_hat
    for tensor in (z, x_hat):
        assert not tensor.requires_grad
        assert not tensor.is_inference()
    assert torch.is_grad_enabled()


def test_c_base_3_encode_output_feeds_a_model_trained_with_gradients() -> None:
    """C-BASE-3: a frozen encoder's codes can be saved for backward by a trained head."""
    model = TinyAutoencoder(nn.Linear(6, 3), nn.Linear(3, 6))
    head = nn.Linear(3, 1)
    z = model.encode(torch.randn(4, 6)).z
    loss = (head(z) * z.sum(dim=1, keepdim=True)).square().mean()  # z saved for backward
    loss.backward()
    assert head.weight.grad is not None
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_c_base_3_grad_mode_is_restored(grad_enabled: bool) -> None:
    """C-BASE-3: the global grad mode after encode/decode is what it was before."""
    model = TinyAutoencoder(nn.Linear(6, 3), nn.Linear(3, 6))
    with torch.set_grad_enabled(grad_enabled):
        model.encode(torch.randn(2, 6))
        assert torch.is_grad_enabled() is grad_enabled
        model.decode(torch.randn(2, 3))
        assert torch.is_grad_enabled() is grad_enabled


def test_c_base_3_encode_decode_keep_module_modes() -> None:
    """C-BASE-3: encode/decode leave every module's train/eval flag as it was."""
    model = _lazy_model()
    model.build(torch.randn(4, 6))
    model.train()
    model.encoder[2].eval()  # a dropout the user froze
    before = [m.training for m in model.modules()]
    model.encode(torch.randn(4, 6))
    model.decode(torch.randn(4, 4))
    assert [m.training for m in model.modules()] == before
    model.eval()
    model.encode(torch.randn(4, 6))
    assert not any(m.training for m in model.modules())


# C-BASE-4 -------------------------------------------------------------------------------------


def test_c_base_4_build_materializes_lazy_layers_with_one_no_grad_pass() -> None:
    """C-BASE-4: exactly one forward call, under no_grad; lazy layers become plain layers."""
    model = _lazy_model()
    assert _has_lazy(model)
    model.build(torch.randn(5, 7))
    assert model.forward_calls == 1
    assert model.seen_grad == [False]
    assert not _has_lazy(model)
    assert type(model.encoder[0]) is nn.Linear and model.encoder[0].in_features == 7
    assert type(model.encoder[1]) is nn.BatchNorm1d
    assert torch.is_grad_enabled()


def test_c_base_4_build_runs_in_eval_mode_and_leaves_batchnorm_stats() -> None:
    """C-BASE-4: every submodule in eval during the pass; BatchNorm statistics untouched."""
    model = _lazy_model()
    model.train()
    model.build(torch.randn(5, 7) * 10 + 3)
    assert model.seen_training and not any(model.seen_training)
    bn = model.encoder[1]
    assert int(bn.num_batches_tracked) == 0
    torch.testing.assert_close(bn.running_mean, torch.zeros(4))
    torch.testing.assert_close(bn.running_var, torch.ones(4))


def test_c_base_4_build_turns_dropout_off() -> None:
    """C-BASE-4: dropout is off in the pass, so it equals the eval-mode output."""
    outputs: list[torch.Tensor] = []
    model = TinyAutoencoder(nn.Sequential(nn.LazyLinear(50), nn.Dropout(0.9)), nn.Identity())
    model.encoder.register_forward_hook(lambda _m, _i, out: outputs.append(out))
    model.train()
    x = torch.randn(4, 6)
    model.build(x)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(outputs[0], model.encoder(x))


def test_c_base_4_build_restores_individual_training_flags() -> None:
    """C-BASE-4: flags are restored one by one (a dropout frozen in eval stays in eval)."""
    model = _lazy_model()
    model.train()
    model.encoder[2].eval()
    before = [(m, m.training) for m in model.modules()]
    model.build(torch.randn(3, 7))
    assert [(m, m.training) for m in model.modules()] == before
    assert model.training and not model.encoder[2].training


def test_c_base_4_build_restores_flags_and_grad_mode_when_forward_raises() -> None:
    """C-BASE-4: an exception in the pass propagates; modes and grad mode are restored."""
    model = _lazy_model()
    model.train()
    model.decoder.eval()
    before = [m.training for m in model.modules()]
    model.fail = True
    with pytest.raises(RuntimeError, match="forward failed on purpose"):
        model.build(torch.randn(3, 7))
    assert [m.training for m in model.modules()] == before
    assert torch.is_grad_enabled()


def test_c_base_4_build_keeps_the_users_modules() -> None:
    """C-BASE-4: the encoder and decoder are the same objects after build."""
    model = _lazy_model()
    encoder, decoder = model.encoder, model.decoder
    model.build(torch.randn(3, 7))
    assert model.encoder is encoder and model.decoder is decoder


# C-BASE-5 -------------------------------------------------------------------------------------


def test_c_base_5_unbuilt_model_loads_a_built_state_dict() -> None:
    """C-BASE-5: strict load into a never-built model, no missing/unexpected keys, same outputs."""
    source = _lazy_model()
    x = torch.randn(8, 7)
    source.build(x)
    source.train()
    for _ in range(3):  # give BatchNorm non-trivial running statistics
        source(torch.randn(8, 7) * 2 + 1)
    target = _lazy_model()
    keys = target.load_state_dict(source.state_dict(), strict=True)
    assert list(keys.missing_keys) == [] and list(keys.unexpected_keys) == []
    assert not _has_lazy(target)
    source.eval()
    target.eval()
    with torch.no_grad():
        torch.testing.assert_close(target(x).x_hat, source(x).x_hat, rtol=0, atol=0)


def test_c_base_5_load_after_build_works_too() -> None:
    """C-BASE-5: loading into a built model gives the source's outputs."""
    source, target = _lazy_model(), _lazy_model()
    x = torch.randn(4, 7)
    source.build(x)
    target.build(x)
    target.load_state_dict(source.state_dict(), strict=True)
    source.eval()
    target.eval()
    torch.testing.assert_close(target.encode(x).z, source.encode(x).z, rtol=0, atol=0)


def test_c_base_5_missing_lazy_key_gives_a_clear_error() -> None:
    """C-BASE-5: a state dict lacking a lazy layer's key fails naming the missing key."""
    source = _lazy_model()
    source.build(torch.randn(4, 7))
    state = source.state_dict()
    del state["decoder.0.weight"]
    with pytest.raises(RuntimeError, match=r"decoder\.0\.weight"):
        _lazy_model().load_state_dict(state, strict=True)
