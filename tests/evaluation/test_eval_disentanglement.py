"""Disentanglement metrics on synthetic representations with known answers.

The ground-truth source has K = 3 independent uniform factors with 4, 5 and 6 values; its
"observations" are the factors scaled to [0, 1]. Four representations of them:

* ``identity``: the factors themselves (perfectly disentangled);
* ``permuted``: the factors permuted, rescaled (one sign flipped) and shifted;
* ``rotation``: factors 0 and 1 mixed by a 45-degree rotation, factor 2 kept (entangled);
* ``noise``: Gaussian noise independent of the factors.

Expected: identity and permuted near each metric's maximum, noise near its minimum (chance),
rotation in between (for the interventional scores 2/3: fixing factor 0 or 1 looks the same).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from pyautoencoder import evaluation as E
from pyautoencoder.variational import VAE

FACTOR_SIZES = (4, 5, 6)


class SyntheticFactors:
    """Ground-truth source whose observations are its factors scaled to [0, 1]."""

    factor_sizes = FACTOR_SIZES

    def sample_factors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        columns = [torch.randint(size, (n,), generator=generator) for size in self.factor_sizes]
        return torch.stack(columns, dim=1)

    def images_from_factors(self, factors: torch.Tensor) -> torch.Tensor:
        return factors.double() / (torch.tensor(self.factor_sizes) - 1)


_C = math.cos(math.pi / 4)
_ROTATION = torch.tensor([[_C, -_C, 0.0], [_C, _C, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _representations() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    noise = torch.Generator().manual_seed(5)
    scale = torch.tensor([3.0, -0.5, 10.0], dtype=torch.float64)
    return {
        "identity": lambda x: x,
        "permuted": lambda x: x[:, [2, 0, 1]] * scale + 1.0,
        "rotation": lambda x: (x - 0.5) @ _ROTATION.T,
        "noise": lambda x: torch.randn(x.shape[0], 3, generator=noise, dtype=torch.float64),
    }


def _all_metrics(representation: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
    data = SyntheticFactors()
    small = {"num_train": 300, "num_eval": 200}
    dci_gbt = E.dci(
        representation, data, num_train=500, num_test=300, estimator_options={"n_estimators": 20}
    )
    dci_lasso = E.dci(representation, data, num_train=500, num_test=300, importance="lasso")
    modularity = E.modularity_explicitness(representation, data, num_train=1000, num_test=500)
    return {
        "beta_vae": E.beta_vae_score(representation, data, pairs_per_example=16, **small).score,
        "factor_vae": E.factor_vae_score(
            representation, data, samples_per_vote=16, num_variance_estimate=1000, **small
        ).score,
        "mig": E.mig(representation, data, num_train=2000).score,
        "sap": E.sap_score(representation, data, num_train=1000, num_test=500).score,
        "sap_continuous": E.sap_score(
            representation, data, num_train=1000, num_test=500, continuous_factors=True
        ).score,
        "dci_d": dci_gbt.disentanglement,
        "dci_c": dci_gbt.completeness,
        "dci_i": dci_gbt.informativeness,
        "lasso_d": dci_lasso.disentanglement,
        "lasso_c": dci_lasso.completeness,
        "lasso_i": dci_lasso.informativeness,
        "modularity": modularity.modularity,
        "explicitness": modularity.explicitness,
    }


@pytest.fixture(scope="module")
def scores() -> dict[str, dict[str, float]]:
    return {name: _all_metrics(rep) for name, rep in _representations().items()}


# (metric, lowest score of identity and permuted, range of rotation, highest score of noise)
EXPECTED = [
    ("beta_vae", 0.95, (0.5, 0.85), 0.5),  # rotation ~2/3, noise ~1/3 (chance)
    ("factor_vae", 0.95, (0.5, 0.85), 0.5),  # rotation ~2/3, noise ~1/3 (chance)
    ("mig", 0.95, (0.2, 0.6), 0.05),  # rotation ~1/3 (only factor 2 has a gap)
    ("sap", 0.25, (0.0, 0.15), 0.05),  # 1-D linear SVMs: ~1/3 even for the factors
    ("sap_continuous", 0.95, (0.2, 0.6), 0.05),
    ("dci_d", 0.95, (0.3, 0.8), 0.2),
    ("dci_c", 0.95, (0.3, 0.8), 0.2),
    # Lasso on noise keeps a few tiny spurious weights, so its D and C are arbitrary there
    # (anything in [0, 1]); they mean something only next to a high informativeness.
    ("lasso_d", 0.95, (0.3, 0.8), None),
    ("lasso_c", 0.95, (0.3, 0.8), None),
    ("modularity", 0.95, (0.5, 0.9), 0.7),  # noise MI is spread evenly: modularity ~0.5
]


@pytest.mark.slow  # the module fixture computes every metric four times (~3-5 s)
@pytest.mark.parametrize(("metric", "high", "middle", "low"), EXPECTED)
def test_ground_truth_scores_high_rotation_middle_noise_low(
    scores: dict[str, dict[str, float]],
    metric: str,
    high: float,
    middle: tuple[float, float],
    low: float | None,
) -> None:
    assert scores["identity"][metric] >= high
    assert scores["permuted"][metric] >= high
    assert middle[0] <= scores["rotation"][metric] <= middle[1]
    if low is not None:
        assert scores["noise"][metric] <= low


@pytest.mark.slow
def test_informativeness_and_explicitness_ignore_rotations(
    scores: dict[str, dict[str, float]],
) -> None:
    # An invertible linear map keeps all information: only noise loses it.
    for name in ("identity", "permuted", "rotation"):
        assert scores[name]["dci_i"] >= 0.95  # GBT test accuracy
        assert scores[name]["lasso_i"] >= 0.95  # lasso test R^2
        assert scores[name]["explicitness"] >= 0.95  # one-vs-rest AUC
    assert scores["noise"]["dci_i"] <= 0.4  # chance accuracy is about 0.2
    assert scores["noise"]["lasso_i"] <= 0.1
    assert 0.4 <= scores["noise"]["explicitness"] <= 0.6  # chance AUC is 0.5


def test_dci_from_importance_known_matrices() -> None:
    d, c, per_code, per_factor = E.dci_from_importance(np.eye(3))
    assert (d, c) == pytest.approx((1.0, 1.0))
    assert per_code == pytest.approx([1.0] * 3)
    assert per_factor == pytest.approx([1.0] * 3)
    d, c, _, _ = E.dci_from_importance(np.ones((3, 3)))
    assert (d, c) == pytest.approx((0.0, 0.0), abs=1e-12)
    # One dimension used for both factors, the other unused: complete but not disentangled.
    d, c, per_code, per_factor = E.dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert d == pytest.approx(0.0, abs=1e-12)
    assert c == pytest.approx(1.0)
    assert per_code == pytest.approx([0.0, 0.0], abs=1e-12)  # unused dimension: uniform
    # Two dimensions share one factor equally: D_d = 1 for both, C for that factor is 0.
    d, c, _, per_factor = E.dci_from_importance(np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 1.0]]))
    assert d == pytest.approx(1.0)
    expected_c0 = 1 - math.log(2) / math.log(3)  # entropy of (1/2, 1/2, 0) in base 3
    assert per_factor == pytest.approx([expected_c0, 1.0])
    assert c == pytest.approx(0.5 * expected_c0 + 0.5)


def test_modularity_from_mutual_information_known_matrices() -> None:
    assert E.modularity_from_mutual_information(np.eye(3))[0] == pytest.approx(1.0)
    assert E.modularity_from_mutual_information(np.ones((2, 3)))[0] == pytest.approx(0.0)
    # theta = 2, other entries 1 and 0: delta = 1 / (4 * 2) -> 0.875; a silent dimension -> 0.
    score, per_code = E.modularity_from_mutual_information(np.array([[2.0, 1.0, 0.0], [0, 0, 0]]))
    assert per_code == pytest.approx([0.875, 0.0])
    assert score == pytest.approx(0.4375)


def test_factor_vae_score_from_votes_majority_classifier() -> None:
    train = np.array([[8, 2], [1, 9], [0, 0]])  # dims -> factors 0, 1, 0
    held_out = np.array([[5, 5], [0, 10], [3, 0]])
    train_accuracy, eval_accuracy = E.factor_vae_score_from_votes(train, held_out)
    assert train_accuracy == pytest.approx(17 / 20)
    assert eval_accuracy == pytest.approx(18 / 23)


def test_factor_vae_votes_pick_the_least_variable_active_dimension() -> None:
    rng = np.random.default_rng(0)
    groups = rng.normal(size=(4, 10, 3))
    groups[:, :, 1] *= 0.01  # dimension 1 barely varies in every group
    votes = E.factor_vae_votes(groups, [0, 1, 1, 1], np.ones(3), 2, np.array([True, True, True]))
    assert votes.tolist() == [[0, 0], [1, 3], [0, 0]]
    masked = E.factor_vae_votes(groups, [0, 1, 1, 1], np.ones(3), 2, np.array([True, False, True]))
    assert masked[1].sum() == 0 and masked.sum() == 4


def test_mutual_information_matches_scikit_learn() -> None:
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, size=(500, 2))
    b = np.stack([(a[:, 0] + rng.integers(0, 3, 500)) % 7, rng.integers(0, 4, 500)], axis=1)
    matrix = E.mutual_information_matrix(a, b)
    for d in range(2):
        for k in range(2):
            assert matrix[d, k] == pytest.approx(mutual_info_score(a[:, d], b[:, k]), abs=1e-12)


def test_discretize_matches_numpy_histogram() -> None:
    values = np.random.default_rng(2).normal(size=(400, 2))
    binned = E.discretize(values, num_bins=7)
    for d in range(2):
        counts, _ = np.histogram(values[:, d], bins=7)
        assert np.bincount(binned[:, d], minlength=7).tolist() == counts.tolist()
    assert E.discretize(np.ones((5, 1))).tolist() == [[0]] * 5


def test_mig_of_a_duplicated_dimension_is_zero_for_that_factor() -> None:
    factors = np.random.default_rng(3).integers(0, 4, size=(1000, 2))
    codes = np.stack([factors[:, 0], factors[:, 0], factors[:, 1]], axis=1).astype(float)
    result = E.mig_from_codes(codes, factors)
    assert result.per_factor[0] == pytest.approx(0.0, abs=1e-12)
    assert result.per_factor[1] > 0.95
    assert result.mutual_information.shape == (3, 2)


def test_model_with_posterior_is_used_through_its_posterior_mean() -> None:
    torch.manual_seed(0)
    model = VAE(nn.Sequential(nn.Linear(3, 8), nn.Tanh()), nn.Linear(2, 3), latent_dim=2)
    model.build(torch.zeros(2, 3))
    model.double().train()
    data = SyntheticFactors()
    direct = E.mig(model, data, num_train=200, seed=4)
    explicit = E.mig(E.posterior_mean_representation(model), data, num_train=200, seed=4)
    assert direct.score == explicit.score
    assert model.training  # modes restored


def test_non_integral_factors_are_rejected_with_a_hint() -> None:
    with pytest.raises(ValueError, match="discretize"):
        E.mig_from_codes(np.zeros((4, 2)), np.array([[0.5], [1.0], [0.0], [2.0]]))


def test_data_without_the_ground_truth_interface_is_rejected() -> None:
    with pytest.raises(
        TypeError, match="missing factor_sizes, sample_factors, images_from_factors"
    ):
        E.mig(lambda x: x, object())  # type: ignore[arg-type]


def test_missing_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real_import = importlib.import_module

    def fake_import(name: str, *args: object) -> object:
        if name.startswith("sklearn"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(ImportError, match=r'pip install "pyautoencoder\[eval\]"'):
        E.sap_from_codes(np.zeros((4, 2)), np.zeros((4, 1)), np.zeros((4, 2)), np.zeros((4, 1)))


def test_the_shapes_data_set_is_a_ground_truth_source() -> None:
    # The centre of mass of a shape's pixels recovers its x and y position factors.
    from pyautoencoder.data import shapes

    data = shapes(image_size=16)

    def centre_of_mass(x: torch.Tensor) -> torch.Tensor:
        image = x.reshape(x.shape[0], 16, 16).double()  # [n, H, W]
        mass = image.sum(dim=(1, 2)).clamp(min=1)
        grid = torch.arange(16, dtype=torch.float64)
        column = (image.sum(dim=1) * grid).sum(dim=1) / mass
        row = (image.sum(dim=2) * grid).sum(dim=1) / mass
        return torch.stack([column, row, mass], dim=1)

    result = E.mig(centre_of_mass, data, num_train=1000, seed=0)
    assert result.mutual_information.shape == (3, len(data.factor_sizes))
    assert result.per_factor[3] > 0.8  # pos_x
    assert result.per_factor[4] > 0.8  # pos_y
    assert result.per_factor[2] < 0.1  # orientation: not captured
