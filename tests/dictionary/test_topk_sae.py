"""TopKSAE: exactly k active latents, the AuxK loss and its revival of dead latents."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyautoencoder.dictionary import DeadLatentTracker, TopKSAE, auxk_loss, topk_activation
from pyautoencoder.registry import get_model_entry

pytestmark = pytest.mark.usefixtures("seeded")


def test_topk_keeps_exactly_k_latents_per_example() -> None:
    model = TopKSAE(8, 32, k=5)
    with torch.no_grad():
        model.b_enc.fill_(100.0)  # every pre-activation positive: ReLU removes none
    output = model(torch.randn(20, 8))
    assert ((output.z != 0).sum(dim=1) == 5).all()
    reference = output.pre_activations.sort(dim=1, descending=True).values[:, :5]
    kept = output.z.sort(dim=1, descending=True).values[:, :5]
    torch.testing.assert_close(kept, reference)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 5),
    cols=st.integers(1, 9),
    k_fraction=st.floats(0.0, 1.0),
    scale=st.sampled_from([1e-30, 1.0, 1e30]),
    seed=st.integers(0, 10_000),
)
def test_topk_activation_is_relu_of_the_k_largest(
    rows: int, cols: int, k_fraction: float, scale: float, seed: int
) -> None:
    k = max(1, round(k_fraction * cols))
    pre = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)) * scale
    z = topk_activation(pre, k)
    for b in range(rows):
        order = sorted(range(cols), key=lambda i: -float(pre[b, i]))
        expected = torch.zeros(cols)
        for i in order[:k]:
            expected[i] = max(float(pre[b, i]), 0.0)
        torch.testing.assert_close(z[b], expected, rtol=0, atol=0)


def test_auxk_loss_matches_a_float64_loop_reference() -> None:
    generator = torch.Generator().manual_seed(1)
    residual = torch.randn(4, 3, dtype=torch.float64, generator=generator)
    pre = torch.randn(4, 6, dtype=torch.float64, generator=generator)
    dictionary = torch.randn(3, 6, dtype=torch.float64, generator=generator)
    dead = torch.tensor([True, False, True, True, False, True])
    value = auxk_loss(residual, pre, dead, dictionary, k_aux=2)
    numerator = denominator = 0.0
    for b in range(4):
        dead_ids = [i for i in range(6) if dead[i]]
        chosen = sorted(dead_ids, key=lambda i: -float(pre[b, i]))[:2]
        e_hat = sum(max(float(pre[b, i]), 0.0) * dictionary[:, i] for i in chosen)
        numerator += float(((residual[b] - e_hat) ** 2).sum())
        denominator += float((residual[b] ** 2).sum())
    assert float(value) == pytest.approx(numerator / denominator, rel=1e-12)


def test_auxk_loss_is_zero_without_dead_latents_and_with_fewer_dead_than_k_aux() -> None:
    residual, pre = torch.randn(4, 3), torch.randn(4, 6)
    dictionary = torch.randn(3, 6)
    assert float(auxk_loss(residual, pre, torch.zeros(6, dtype=torch.bool), dictionary, 3)) == 0
    one_dead = torch.tensor([False, False, True, False, False, False])
    value = auxk_loss(residual, pre, one_dead, dictionary, 3)  # k_aux > number dead
    e_hat = pre[:, 2:3].relu() * dictionary[:, 2]
    expected = ((residual - e_hat) ** 2).sum() / (residual**2).sum()
    torch.testing.assert_close(value, expected)


def test_auxk_loss_gradcheck() -> None:
    generator = torch.Generator().manual_seed(2)
    residual = torch.randn(3, 4, dtype=torch.float64, generator=generator)
    pre = (torch.rand(3, 5, dtype=torch.float64, generator=generator) + 0.1).requires_grad_()
    dictionary = torch.randn(4, 5, dtype=torch.float64, generator=generator).requires_grad_()
    dead = torch.tensor([True, True, False, True, False])
    assert torch.autograd.gradcheck(
        lambda p, d: auxk_loss(residual, p, dead, d, 2), (pre, dictionary)
    )


def test_dead_latent_tracker_counts_examples_since_last_activity() -> None:
    tracker = DeadLatentTracker(3, dead_after=5)
    tracker.update(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    tracker.update(torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert tracker.examples_since_active.tolist() == [3, 5, 0]
    assert tracker.dead().tolist() == [False, True, False]


def test_dead_latents_are_counted_only_in_training_forwards() -> None:
    model = TopKSAE(4, 6, k=1, dead_after=3)
    x = torch.randn(5, 4)
    model.eval()
    model(x)
    assert int(model.dead_latents.examples_since_active.sum()) == 0
    model(x, update=True)
    assert int(model.dead_latents.examples_since_active.max()) == 5


def _dead_latents_over_training(aux_weight: float, steps: int = 40) -> list[int]:
    """Number of dead latents every 10 steps, on a case built so that only AuxK can help.

    Data: one of three orthogonal features per example, ``x = a e_j`` with ``a`` in
    ``[1, 2]``. Latent 0 is a fixed detector (its encoder row ``(0.5, 0.5, 0.5)`` and bias
    get no gradient; ``b_dec`` is frozen at 0), so it always wins the top-1 with ``0.5 a``
    against the ``0.1 a`` of latents 1 and 2 (encoder rows ``0.1 e_1``, ``0.1 e_2``): the
    main loss never reaches latents 1 and 2, and nothing else moves their pre-activations.
    """
    torch.manual_seed(0)
    model = TopKSAE(3, 3, k=1, aux_weight=aux_weight, k_aux=1, dead_after=16)
    assert model.W_enc is not None
    with torch.no_grad():
        model.W_enc.copy_(torch.tensor([[0.5, 0.5, 0.5], [0.0, 0.1, 0.0], [0.0, 0.0, 0.1]]))
        model.W_dec.copy_(torch.eye(3))
        model.b_enc.zero_()
        model.b_dec.zero_()
    trainable = torch.tensor([0.0, 1.0, 1.0])
    model.W_enc.register_hook(lambda grad: grad * trainable[:, None])
    model.b_enc.register_hook(lambda grad: grad * trainable)
    model.b_dec.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-2)
    generator = torch.Generator().manual_seed(0)
    history = []
    for step in range(steps):
        feature = torch.randint(0, 3, (16,), generator=generator)
        magnitude = 1 + torch.rand(16, 1, generator=generator)
        x = torch.nn.functional.one_hot(feature, 3).float() * magnitude
        loss = model.compute_loss(x, model(x)).objective
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.after_optimizer_step()
        if step % 10 == 9:
            history.append(int(model.dead_latents.dead().sum()))
    return history


def test_auxk_loss_revives_dead_latents_on_a_constructed_case() -> None:
    with_aux = _dead_latents_over_training(aux_weight=1.0)
    without = _dead_latents_over_training(aux_weight=0.0)
    assert without == [2, 2, 2, 2]  # the control: nothing reaches the dead latents
    assert with_aux[0] == 2 and with_aux[-1] == 0, with_aux


def test_topk_sae_is_registered_for_create_model() -> None:
    entry = get_model_entry("topk_sae")
    assert entry.cls is TopKSAE and entry.latent == "dictionary"
    assert entry.latent_arg == "num_latents"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"k": 0}, ValueError, "k must be a positive int"),
        ({"k": 11}, ValueError, "k must be <= num_latents = 10, got 11"),
        ({"k_aux": 11}, ValueError, "k_aux must be <= num_latents"),
        ({"aux_weight": -1.0}, ValueError, "aux_weight"),
        ({"dead_after": 0}, ValueError, "dead_after"),
    ],
)
def test_bad_options_are_named(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        TopKSAE(6, 10, **{"k": 2, **kwargs})  # type: ignore[arg-type]


def test_gradcheck_of_the_reconstruction_objective_in_the_input() -> None:
    """Without AuxK (whose residual target is a stop-gradient) the objective is a true
    function of ``x`` away from top-k ties."""
    model = TopKSAE(4, 6, k=2, aux_weight=0.0).double()
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda inputs: model.compute_loss(inputs, model(inputs)).objective, (x,)
    )


def test_active_counts_equal_a_pass_over_the_code() -> None:
    model = TopKSAE(6, 20, k=4)
    with torch.no_grad():
        model.b_enc.uniform_(-1.0, 0.3)  # some kept pre-activations are negative: ReLU'd to 0
    output = model(torch.randn(9, 6))
    torch.testing.assert_close(output.active_counts, (output.z != 0).sum(0).float())
    assert float(model.compute_loss(torch.randn(9, 6), output).diagnostics["l0"]) == (
        pytest.approx(float((output.z != 0).sum(1).float().mean()))
    )
