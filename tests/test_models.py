"""The generic model test matrix: every registered model passes the same checks.

Parametrized over :func:`pyautoencoder.registry.list_models`, so a model registered with
``@register_model`` is picked up without editing this file. Each model is built by
:func:`pyautoencoder.nets.create_model` with a tiny MLP (input ``[1, 8, 8]``, ``D_z = 3``,
hidden ``(16,)``). Model-specific tests (the formulas) live next to each model's own tests.

Per-model hints live here, in the tests, never on the model classes (a model's source holds
no test code): ``TINY_CONFIGS`` (constructor arguments for a tiny model), ``EXAMPLE_INPUTS``
(extra ``forward`` arguments and ``compute_loss`` keywords, e.g. CVAE's condition ``y``) and
``SKIPS`` (check -> the reason it does not apply). Check names are the test names below
without the ``test_`` prefix.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from pyautoencoder._base import ModelOutput
from pyautoencoder.loss import LossResult
from pyautoencoder.nets import create_model, from_pretrained, save_pretrained
from pyautoencoder.registry import get_model_entry, list_models

MODELS = list_models()
INPUT_SHAPE = (1, 8, 8)
LATENT_DIM = 3
HIDDEN = (16,)
BATCH = 6


#: Constructor arguments for models whose defaults do not fit the tiny size (a TopK SAE's
#: default ``k = 32`` exceeds ``D_z = 3`` latents).
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "topk_sae": {"k": 2, "dead_after": 12},
    "batch_topk_sae": {"k": 2, "dead_after": 12},
    "factor_vae": {"discriminator_hidden": (8,)},
    "aae": {"discriminator_hidden": (8,)},
    "vae_gan": {"discriminator_hidden": (8,)},
    "vqgan": {"discriminator_hidden": (8,)},
}


ExampleInputs = Callable[[nn.Module, torch.Tensor], tuple[tuple[Any, ...], dict[str, Any]]]

#: ``(model, x) -> (extra forward args, compute_loss kwargs)`` for models that need more than
#: ``model(x)`` and ``model.compute_loss(x, output)``.
EXAMPLE_INPUTS: dict[str, ExampleInputs] = {
    # CVAE: class labels y = arange(B) % condition_dim
    "cvae": lambda model, x: (
        (torch.arange(x.shape[0], device=x.device) % model.condition_dim,),
        {},
    ),
}

#: model name -> {check name: the reason the check does not apply}.
SKIPS: dict[str, dict[str, str]] = {}


def build(name: str, seed: int = 0) -> nn.Module:
    """The tiny model ``name`` with parameters drawn from ``seed``."""
    get_model_entry(name)  # an unknown name fails here, with the registry's message
    torch.manual_seed(seed)
    config = TINY_CONFIGS.get(name, {})
    return create_model(name, INPUT_SHAPE, LATENT_DIM, hidden=HIDDEN, **config)


def inputs(seed: int = 0, batch: int = BATCH) -> torch.Tensor:
    """A batch ``[B, 1, 8, 8]`` in ``[0, 1]`` with some structure (two prototypes + noise)."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(2, *INPUT_SHAPE, generator=generator)
    noise = 0.1 * torch.rand(batch, *INPUT_SHAPE, generator=generator)
    return (0.9 * prototypes[torch.arange(batch) % 2] + noise).clamp(0, 1)


def example_call(model: nn.Module, x: torch.Tensor) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(extra forward args, compute_loss kwargs)`` from ``EXAMPLE_INPUTS``, or none."""
    names = [name for name in MODELS if get_model_entry(name).cls is type(model)]
    hook = EXAMPLE_INPUTS.get(names[0]) if names else None
    if hook is None:
        return (), {}
    args, loss_kwargs = hook(model, x)
    return tuple(args), dict(loss_kwargs)


def forward_and_loss(model: nn.Module, x: torch.Tensor) -> tuple[ModelOutput, LossResult]:
    args, loss_kwargs = example_call(model, x)
    output = model(x, *args)
    return output, model.compute_loss(x, output, **loss_kwargs)


def skip_if_opted_out(name: str, check: str) -> None:
    reason = SKIPS.get(name, {}).get(check)
    if reason:
        pytest.skip(f"{name} opts out of {check}: {reason}")


def seeded_output(model: nn.Module, x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """``x_hat`` of one forward pass with the global RNG at ``seed`` (no grad)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return forward_and_loss(model, x)[0].x_hat


@pytest.fixture(params=MODELS)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_forward_returns_a_model_output_with_batch_first_shapes(name: str) -> None:
    skip_if_opted_out(name, "forward_returns_a_model_output_with_batch_first_shapes")
    model, x = build(name), inputs()
    output, _ = forward_and_loss(model, x)
    assert isinstance(output, ModelOutput)
    x_hat = output.x_hat
    assert x_hat.shape[0] == BATCH
    assert tuple(x_hat.shape[-len(INPUT_SHAPE) :]) == INPUT_SHAPE
    assert x_hat.dim() in (len(INPUT_SHAPE) + 1, len(INPUT_SHAPE) + 2)  # [B, ...] or [B, S, ...]
    assert output.z.shape[0] == BATCH
    assert torch.isfinite(x_hat).all() and torch.isfinite(output.z).all()


def test_compute_loss_returns_a_finite_scalar_and_detached_diagnostics(name: str) -> None:
    skip_if_opted_out(name, "compute_loss_returns_a_finite_scalar_and_detached_diagnostics")
    model, x = build(name), inputs()
    _, loss = forward_and_loss(model, x)
    assert isinstance(loss, LossResult)
    assert loss.objective.dim() == 0 and loss.objective.requires_grad
    assert torch.isfinite(loss.objective)
    for key, value in loss.diagnostics.items():
        assert isinstance(value, torch.Tensor) and value.dim() == 0, key
        assert not value.requires_grad, key
        assert torch.isfinite(value), key


def test_gradients_reach_every_parameter(name: str) -> None:
    skip_if_opted_out(name, "gradients_reach_every_parameter")
    model, x = build(name), inputs()
    forward_and_loss(model, x)[1].objective.backward()
    without = [key for key, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not without, f"no gradient reached {without}"
    for key, parameter in model.named_parameters():
        if parameter.grad is not None:
            assert torch.isfinite(parameter.grad).all(), key
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.parameters()), (
        "every gradient is zero"
    )


def test_loss_falls_over_adam_steps_on_a_fixed_batch(name: str) -> None:
    skip_if_opted_out(name, "loss_falls_over_adam_steps_on_a_fixed_batch")
    model, x = build(name), inputs(batch=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    losses = []
    for _ in range(50):
        objective = forward_and_loss(model, x)[1].objective
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
        losses.append(objective.detach())
    history = torch.stack(losses)
    assert torch.isfinite(history).all()
    # Mean of the last five steps against the first five: robust to sampling noise.
    assert history[-5:].mean() < history[:5].mean(), history
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_state_dict_round_trip_gives_identical_outputs(name: str) -> None:
    skip_if_opted_out(name, "state_dict_round_trip_gives_identical_outputs")
    source, target, x = build(name, seed=0), build(name, seed=1), inputs()
    target.load_state_dict(source.state_dict(), strict=True)
    source.eval()
    target.eval()
    torch.testing.assert_close(seeded_output(target, x), seeded_output(source, x), rtol=0, atol=0)


def test_save_pretrained_round_trip_gives_identical_outputs(name: str, tmp_path: Any) -> None:
    skip_if_opted_out(name, "save_pretrained_round_trip_gives_identical_outputs")
    source, x = build(name), inputs()
    save_pretrained(source, tmp_path / name)
    loaded = from_pretrained(tmp_path / name)
    assert type(loaded) is type(source) and not loaded.training
    source.eval()
    torch.testing.assert_close(seeded_output(loaded, x), seeded_output(source, x), rtol=0, atol=0)


def test_forward_and_loss_compile_with_fullgraph(name: str) -> None:
    skip_if_opted_out(name, "forward_and_loss_compile_with_fullgraph")
    model, x = build(name), inputs()
    reference = copy.deepcopy(model)  # the step may update state (e.g. a VQ-VAE's EMA codebook)
    args, loss_kwargs = example_call(model, x)

    def step(module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return module.compute_loss(batch, module(batch, *args), **loss_kwargs).objective

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.manual_seed(3)
    objective = compiled(model, x)
    torch.manual_seed(3)
    expected = step(reference, x)
    assert objective.dim() == 0 and torch.isfinite(objective)
    torch.testing.assert_close(objective, expected)


def test_same_seed_gives_the_same_model_and_loss(name: str) -> None:
    skip_if_opted_out(name, "same_seed_gives_the_same_model_and_loss")
    x = inputs()
    losses = []
    for _ in range(2):
        model = build(name, seed=5)
        torch.manual_seed(7)
        losses.append(forward_and_loss(model, x)[1].objective.detach())
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    other = build(name, seed=6)
    torch.manual_seed(7)
    assert not torch.equal(forward_and_loss(other, x)[1].objective.detach(), losses[0])


def test_matrix_hints_reach_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """``TINY_CONFIGS`` reach the constructor and ``SKIPS`` skips a check."""
    from pyautoencoder import registry
    from pyautoencoder.vanilla import AE

    class _HintedAE(AE):
        def __init__(self, encoder: nn.Module, decoder: nn.Module, likelihood_name: str) -> None:
            super().__init__(encoder, decoder)
            self.likelihood_name = likelihood_name

    entry = registry.ModelEntry("hinted_ae", _HintedAE, "code", None)
    monkeypatch.setitem(registry._MODELS, "hinted_ae", entry)
    monkeypatch.setitem(TINY_CONFIGS, "hinted_ae", {"likelihood_name": "bernoulli"})
    monkeypatch.setitem(SKIPS, "hinted_ae", {"some_check": "does not apply"})
    assert build("hinted_ae").likelihood_name == "bernoulli"
    with pytest.raises(pytest.skip.Exception, match="opts out of some_check: does not apply"):
        skip_if_opted_out("hinted_ae", "some_check")
    skip_if_opted_out("hinted_ae", "another_check")  # no skip


def test_no_model_class_carries_test_hints() -> None:
    """Per-model test hints live in this file, not on the classes in ``src/``."""
    for name in MODELS:
        cls = get_model_entry(name).cls
        for hook in ("_example_inputs", "_example_config", "_generic_test_skips"):
            assert not hasattr(cls, hook), f"{cls.__name__}.{hook}: move it to tests/test_models.py"
