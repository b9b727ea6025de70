"""BatchTopKSAE: k * B active latents per batch and the inference threshold."""

from __future__ import annotations

import pytest
import torch

from pyautoencoder.dictionary import BatchTopKSAE, batch_topk_activation

pytestmark = pytest.mark.usefixtures("seeded")


def test_batch_topk_keeps_exactly_k_times_batch_latents() -> None:
    model = BatchTopKSAE(8, 32, k=3)
    with torch.no_grad():
        model.b_enc.fill_(10.0)  # every pre-activation positive
    output = model(torch.randn(7, 8))  # training mode: batch TopK
    assert int((output.z != 0).sum()) == 3 * 7
    per_example = (output.z != 0).sum(dim=1)
    assert float(per_example.float().mean()) == 3.0
    kept = output.z[output.z != 0].sort(descending=True).values
    reference = output.pre_activations.reshape(-1).sort(descending=True).values[: 3 * 7]
    torch.testing.assert_close(kept, reference)


def test_batch_topk_lets_examples_use_different_numbers_of_latents() -> None:
    pre = torch.tensor([[5.0, 4.0, 3.0, 2.0], [0.1, 0.2, 0.0, 0.0]])
    z = batch_topk_activation(pre, k=2)
    assert (z != 0).sum(dim=1).tolist() == [4, 0]
    torch.testing.assert_close(z[0], pre[0])


def test_batch_topk_applies_relu_before_selecting() -> None:
    pre = torch.tensor([[-1.0, -2.0], [3.0, -0.5]])
    z = batch_topk_activation(pre, k=1)
    torch.testing.assert_close(z, torch.tensor([[0.0, 0.0], [3.0, 0.0]]))


def test_threshold_is_the_running_mean_of_the_smallest_kept_activation() -> None:
    model = BatchTopKSAE(6, 12, k=2, threshold_decay=0.5)
    minima = []
    for _ in range(4):
        output = model(torch.randn(5, 6))
        z = output.z.detach()
        positive = z[z > 0]
        minima.append(float(positive.min()))
    # rate max(1 - decay, 1 / t): 1, 1/2, then 1/2, 1/2
    expected = minima[0]
    expected = expected + 0.5 * (minima[1] - expected)
    expected = expected + 0.5 * (minima[2] - expected)
    expected = expected + 0.5 * (minima[3] - expected)
    assert float(model.threshold) == pytest.approx(expected, rel=1e-6)
    assert int(model.threshold_updates) == 4


def test_threshold_mean_is_exact_for_the_first_batches() -> None:
    model = BatchTopKSAE(6, 12, k=2, threshold_decay=0.999)
    minima: list[float] = []
    for _ in range(3):
        z = model(torch.randn(5, 6)).z.detach()
        minima.append(float(z[z > 0].min()))
    assert float(model.threshold) == pytest.approx(sum(minima) / 3, rel=1e-6)


def test_inference_uses_the_threshold_and_not_the_batch() -> None:
    model = BatchTopKSAE(6, 12, k=2)
    with torch.no_grad():
        model.threshold.fill_(0.3)
    model.eval()
    x = torch.randn(5, 6)
    output = model(x)
    pre = output.pre_activations
    torch.testing.assert_close(output.z, pre * (pre > 0.3))
    # one example alone gets the same code as inside the batch
    torch.testing.assert_close(model(x[:1]).z, output.z[:1])
    torch.testing.assert_close(model.encode(x).z, output.z)
    assert int(model.threshold_updates) == 0  # eval forwards change no state


def test_a_batch_without_positive_activations_leaves_the_threshold_alone() -> None:
    model = BatchTopKSAE(6, 12, k=2)
    with torch.no_grad():
        model.threshold.fill_(0.7)
        model.b_enc.fill_(-100.0)
    model(torch.randn(5, 6))
    assert float(model.threshold) == pytest.approx(0.7)
    assert int(model.threshold_updates) == 0


@pytest.mark.parametrize("decay", [1.0, -0.1, "0.9"])
def test_bad_threshold_decay_is_named(decay: object) -> None:
    with pytest.raises((TypeError, ValueError), match="threshold_decay"):
        BatchTopKSAE(6, 12, k=2, threshold_decay=decay)  # type: ignore[arg-type]


def test_threshold_is_saved_with_the_state_dict() -> None:
    model = BatchTopKSAE(6, 12, k=2)
    model(torch.randn(5, 6))
    other = BatchTopKSAE(6, 12, k=2)
    other.load_state_dict(model.state_dict())
    assert float(other.threshold) == float(model.threshold) > 0


@pytest.mark.parametrize("training", [True, False])
def test_active_counts_equal_a_pass_over_the_code(training: bool) -> None:
    model = BatchTopKSAE(6, 20, k=3)
    with torch.no_grad():
        model.threshold.fill_(0.1)
    model.train(training)
    output = model(torch.randn(9, 6))
    torch.testing.assert_close(output.active_counts, (output.z != 0).sum(0).float())
