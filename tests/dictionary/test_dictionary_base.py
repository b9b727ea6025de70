"""The shared dictionary logic: unit-norm columns, the projected gradient, input checks."""

from __future__ import annotations

import pytest
import torch

from pyautoencoder.dictionary import (
    GatedSAE,
    JumpReLUSAE,
    RemoveParallelGradient,
    SparseDictionary,
    TopKSAE,
)
from pyautoencoder.training import AfterOptimizerStep

pytestmark = pytest.mark.usefixtures("seeded")


def column_norms(model: SparseDictionary) -> torch.Tensor:
    return model.W_dec.detach().norm(dim=0)


@pytest.mark.parametrize("tied", [False, True])
def test_initial_dictionary_columns_have_unit_norm(tied: bool) -> None:
    model = TopKSAE(6, 10, k=3, tied=tied)
    torch.testing.assert_close(column_norms(model), torch.ones(10))
    assert (model.W_enc is None) is tied


def test_untied_encoder_starts_as_the_dictionary_transpose() -> None:
    model = TopKSAE(6, 10, k=3)
    assert model.W_enc is not None
    torch.testing.assert_close(model.W_enc.detach(), model.W_dec.detach().T)


def test_parallel_gradient_component_is_removed_exactly() -> None:
    """The backward output equals ``G - (G . w) w`` per column, computed here in float64."""
    weight = torch.randn(5, 7, dtype=torch.float64) * 3.0  # columns of any norm
    incoming = torch.randn(5, 7, dtype=torch.float64)
    leaf = weight.clone().requires_grad_(True)
    RemoveParallelGradient.apply(leaf).backward(incoming)
    assert leaf.grad is not None
    expected = torch.empty_like(incoming)
    for i in range(7):
        unit = weight[:, i] / weight[:, i].norm()
        expected[:, i] = incoming[:, i] - torch.dot(incoming[:, i], unit) * unit
    torch.testing.assert_close(leaf.grad, expected)
    # and nothing parallel is left
    units = weight / weight.norm(dim=0)
    torch.testing.assert_close((leaf.grad * units).sum(0), torch.zeros(7, dtype=torch.float64))


@pytest.mark.parametrize("model_cls", [TopKSAE, JumpReLUSAE, GatedSAE])
@pytest.mark.parametrize("tied", [False, True])
def test_decoder_gradient_has_no_component_along_its_columns(
    model_cls: type[SparseDictionary], tied: bool
) -> None:
    kwargs = {"k": 3} if model_cls is TopKSAE else {}
    model = model_cls(6, 10, tied=tied, **kwargs)  # type: ignore[call-arg]
    x = torch.randn(16, 6)
    model.compute_loss(x, model(x)).objective.backward()
    grad = model.W_dec.grad
    assert grad is not None and bool(grad.abs().sum() > 0)
    parallel = (grad * model.W_dec.detach()).sum(dim=0)
    torch.testing.assert_close(parallel, torch.zeros(10), atol=1e-6, rtol=0)


def test_after_optimizer_step_renormalises_columns_and_keeps_directions() -> None:
    model = TopKSAE(6, 10, k=3)
    with torch.no_grad():
        model.W_dec.mul_(torch.linspace(0.1, 5.0, 10))
    directions = model.W_dec.detach() / model.W_dec.detach().norm(dim=0)
    model.after_optimizer_step()
    torch.testing.assert_close(column_norms(model), torch.ones(10))
    torch.testing.assert_close(model.W_dec.detach(), directions)


def test_columns_stay_unit_norm_over_adam_steps_with_the_hook() -> None:
    model = TopKSAE(6, 12, k=3)
    assert isinstance(model, AfterOptimizerStep)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-2)
    x = torch.randn(32, 6)
    for _ in range(10):
        optimizer.zero_grad()
        model.compute_loss(x, model(x)).objective.backward()
        optimizer.step()
        model.after_optimizer_step()
        torch.testing.assert_close(column_norms(model), torch.ones(12))


@pytest.mark.slow
def test_fit_calls_after_optimizer_step(tmp_path: object) -> None:
    pytest.importorskip("lightning")
    from pyautoencoder.training import fit

    calls: list[int] = []

    class Counting(TopKSAE):
        def after_optimizer_step(self) -> None:
            calls.append(1)
            super().after_optimizer_step()

    model = Counting(6, 12, k=3)
    result = fit(model, torch.randn(64, 6), epochs=1, batch_size=16, lr=5e-2, out_dir=None)
    assert len(calls) == result.steps == 4
    torch.testing.assert_close(column_norms(model), torch.ones(12))


def test_inputs_of_any_trailing_shape_are_flattened_and_restored() -> None:
    model = TopKSAE(12, 20, k=4)
    x = torch.randn(3, 3, 4)
    output = model(x)
    assert output.x_hat.shape == x.shape and output.z.shape == (3, 20)
    flat = model(x.reshape(3, 12))
    torch.testing.assert_close(flat.x_hat.reshape(x.shape), output.x_hat)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.randn(4, 5), r"x must be \[B, 6\].*got shape \(4, 5\)"),
        (torch.randn(6), r"x must be \[B, 6\]"),
        (torch.zeros(0, 6), "at least one example"),
        (torch.zeros(4, 6, dtype=torch.long), "floating-point"),
    ],
)
def test_bad_inputs_name_the_expected_shape(x: torch.Tensor, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        TopKSAE(6, 10, k=3)(x)


def test_decode_checks_the_code_shape() -> None:
    model = TopKSAE(6, 10, k=3)
    with pytest.raises(ValueError, match=r"z must be \[B, 10\]"):
        model.decode(torch.zeros(2, 9))
    torch.testing.assert_close(model.decode(torch.zeros(2, 10)).x_hat, torch.zeros(2, 6))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"input_dim": 0}, ValueError, "input_dim"),
        ({"num_latents": 2.5}, TypeError, "num_latents"),
        ({"tied": "yes"}, TypeError, "tied must be a bool"),
    ],
)
def test_bad_sizes_are_named(kwargs: dict[str, object], error: type, message: str) -> None:
    arguments = {"input_dim": 6, "num_latents": 10, **kwargs}
    with pytest.raises(error, match=message):
        TopKSAE(k=1, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("tied", [False, True])
def test_a_hand_built_sae_round_trips_through_save_pretrained(tmp_path: object, tied: bool) -> None:
    pytest.importorskip("safetensors")
    from pathlib import Path

    from pyautoencoder.dictionary import BatchTopKSAE
    from pyautoencoder.nets import from_pretrained, save_pretrained

    model = BatchTopKSAE(6, 10, k=2, tied=tied, threshold_decay=0.5)
    model(torch.randn(8, 6))  # a training step moves the threshold buffer
    folder = Path(str(tmp_path)) / "sae"
    save_pretrained(model, folder)
    loaded = from_pretrained(folder)
    assert isinstance(loaded, BatchTopKSAE) and loaded.tied is tied and loaded.k == 2
    x = torch.randn(4, 6)
    torch.testing.assert_close(loaded(x).x_hat, model.eval()(x).x_hat, rtol=0, atol=0)
    assert float(loaded.threshold) == float(model.threshold) > 0
