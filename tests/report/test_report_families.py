"""Reports per model family: each family gets the figures that fit it, and says why not others."""

from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path

import pytest
import torch

from pyautoencoder.cli import main
from pyautoencoder.cli._evaluate import metric_notes, metric_rows
from pyautoencoder.nets import create_model
from pyautoencoder.registry import get_model_entry, list_models
from pyautoencoder.report import Figure, _figures, _views, model_figures, write_report

pytest.importorskip("matplotlib")

SHAPE = (1, 4, 4)


def _data(count: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(count, *SHAPE, generator=generator)
    return x, torch.arange(count) % 3


def _model(name: str, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    extra: dict[str, object] = {}
    parameters = inspect.signature(get_model_entry(name).cls).parameters
    if "likelihood" in parameters:
        extra["likelihood"] = "bernoulli"
    if "k" in parameters:  # top-k sparse autoencoders: k <= the latent size 2
        extra["k"] = 1
    if name == "cvae":
        extra["condition_dim"] = 3
    if name == "vqvae":
        extra["num_codes"] = 16
    return create_model(name, SHAPE, 2, hidden=(8,), **extra, **kwargs)


@functools.cache
def _figures_of(name: str) -> dict[str, Figure]:
    x, labels = _data()
    figures = model_figures(_model(name), x, labels, num_samples=8, traversal_dims=2)
    return {figure.name: figure for figure in figures}


def _drawn(figures: dict[str, Figure]) -> set[str]:
    return {name for name, figure in figures.items() if figure.png is not None}


def _missing(figures: dict[str, Figure]) -> set[str]:
    return {name for name, figure in figures.items() if figure.png is None}


@pytest.mark.parametrize(
    ("name", "drawn", "missing"),
    [
        ("vae", {"reconstructions", "samples", "traversals", "latent_pca"}, set()),
        ("cvae", {"reconstructions", "class_samples", "traversals", "latent_pca"}, set()),
        ("ae", {"reconstructions", "latent_pca"}, {"samples", "traversals"}),
        ("vqvae", {"reconstructions", "code_usage"}, {"samples", "traversals", "latent_pca"}),
    ],
)
def test_each_family_gets_its_figures(name: str, drawn: set[str], missing: set[str]) -> None:
    figures = _figures_of(name)
    assert _drawn(figures) == drawn
    assert _missing(figures) == missing


@pytest.mark.parametrize("name", ["vae", "cvae", "ae", "vqvae", "rae"])
def test_a_missing_figure_says_why_in_one_sentence_and_has_no_caption(name: str) -> None:
    for figure in _figures_of(name).values():
        if figure.png is None:
            assert figure.caption == ""
            assert figure.note.endswith(".") and figure.note.count(". ") == 0, figure.note
            assert type(_model(name)).__name__ in figure.note
        else:
            assert figure.caption and figure.note == ""


def test_captions_do_not_claim_what_the_model_lacks() -> None:
    vq = _figures_of("vqvae")
    assert all("prior" not in f.caption and "posterior" not in f.caption for f in vq.values())
    assert "no prior over its discrete codes" in vq["samples"].note
    ae = _figures_of("ae")
    assert "posterior" not in ae["reconstructions"].caption + ae["latent_pca"].caption
    assert "deterministic" in ae["samples"].note
    cvae = _figures_of("cvae")
    assert "given their labels" in cvae["reconstructions"].caption
    assert "one row per label 0-2" in cvae["class_samples"].caption


def test_rae_samples_need_its_fitted_density() -> None:
    x, labels = _data()
    model = _model("rae")
    unfitted = {f.name: f for f in model_figures(model, x, labels, num_samples=8)}
    assert unfitted["samples"].png is None and "fit_density" in unfitted["samples"].note
    model.fit_density(x)  # type: ignore[operator]
    fitted = {f.name: f for f in model_figures(model, x, labels, num_samples=8)}
    assert fitted["samples"].png is not None
    assert "fitted code density" in fitted["samples"].caption


def test_html_shows_the_reason_instead_of_a_caption(tmp_path: Path) -> None:
    figures = list(_figures_of("vqvae").values())
    html = write_report(tmp_path, figures, {"model": "vqvae"}, notes=["what numbers mean"]).path
    text = html.read_text()
    assert text.count("<figcaption>") == 2  # reconstructions, code usage
    assert text.count("Not shown: VQVAE") == 3
    assert "what numbers mean" in text
    assert {p.stem for p in (tmp_path / "figures").glob("*.png")} == {
        "reconstructions",
        "code_usage",
    }


def test_code_usage_counts_every_code_pick() -> None:
    x, _ = _data()
    model = _model("vqvae").eval()
    counts = _views.code_usage(model, x, batch_size=5).counts.reshape(-1).long()
    indices = model(x).indices.reshape(-1)  # type: ignore[operator]
    expected = torch.zeros(16, dtype=torch.long)
    for index in indices.tolist():
        expected[index] += 1
    assert torch.equal(counts, expected) and int(counts.sum()) == x.shape[0]


def test_class_samples_have_one_row_per_label() -> None:
    model = _model("cvae").eval()
    drawn = _views.class_samples(model, per_class=4)
    assert drawn.shape == (3 * 4, *SHAPE)


def test_small_images_are_upsampled_by_nearest_neighbour() -> None:
    image = torch.rand(1, 1, 8, 8)
    mosaic, cell_h, cell_w = _figures._tile(image, rows=1, cols=1)
    factor = _figures._MIN_SIDE // 8  # 8x8 -> 48x48 screen pixels
    assert cell_h == cell_w == 8 * factor + _figures._PAD
    block = mosaic[_figures._PAD : _figures._PAD + 8 * factor, _figures._PAD :][:, : 8 * factor, 0]
    expected = image[0, 0].repeat_interleave(factor, 0).repeat_interleave(factor, 1)
    assert torch.equal(block, expected)


def test_curves_have_y_labels_with_units() -> None:
    vae = [{"event": "train", "step": 1, "loss": 3.0, "log_likelihood": -2.0, "kl_divergence": 1.0}]
    assert {units for _, _, units in _figures._panels(vae)} == {"nats per example"}
    vq = [{"event": "train", "step": 1, "loss": 3.0, "log_likelihood": -2.0, "vq_loss": 1.0}]
    assert _figures._panels(vq)[0][2] == "nats + VQ loss (squared distance)"
    penalty = [{"event": "train", "step": 1, "loss": 3.0, "log_likelihood": -2.0, "code": 1.0}]
    assert _figures._panels(penalty)[0][2] == "nats + weighted penalties"


def test_summary_never_shows_one_number_under_two_names() -> None:
    vae = {"loss": 30.0, "elbo": -30.0, "log_likelihood": -29.5, "reconstruction_error": 28.0}
    labels = [label for label, _ in metric_rows(vae, num_samples=5)]
    assert labels == [
        "held-out ELBO (nats)",
        "held-out log p(x), IWAE bound K=5 (nats)",
        "reconstruction error (nats)",
    ]
    ae = {"loss": 12.0, "reconstruction_error": 12.0}
    assert [label for label, _ in metric_rows(ae, num_samples=5)] == ["reconstruction error (nats)"]
    beta = {"loss": 31.0, "elbo": -30.0, "reconstruction_error": 28.0}
    rows = metric_rows(beta, num_samples=5)
    assert rows[0] == ("held-out training objective", 31.0)
    assert len({value for _, value in rows}) == len(rows)
    notes = " ".join(metric_notes(beta, rows))
    assert "not -ELBO" in notes and "neither -ELBO nor the reconstruction error" in notes


def test_every_model_declares_capabilities_it_has() -> None:
    x, _ = _data(6)
    for name in list_models():
        declared = get_model_entry(name).cls.capabilities  # type: ignore[attr-defined]
        known = {"code", "posterior", "prior_sampling", "conditional", "codebook", "sparse_code"}
        assert declared <= known
        model = _model(name).eval()
        if "posterior" in declared and "conditional" not in declared:
            # event [D_z]: all groups of a hierarchical VAE (2 groups of 2 here)
            total = model.latent_dim  # type: ignore[attr-defined]
            assert model.posterior(x).mean.shape == (6, total)  # type: ignore[operator]
        if "code" in declared:
            assert model.encode(x).z.shape == (6, 2)  # type: ignore[operator]
        if "codebook" in declared:
            assert model.encode(x).indices.max() < model.num_codes  # type: ignore[operator]
        if "conditional" in declared:
            assert model.condition_dim == 3  # type: ignore[attr-defined]
        if "sparse_code" in declared:
            assert model(x).z.shape == (6, 2)


def test_sparse_autoencoders_get_a_feature_density_figure_and_l0_fvu_curves() -> None:
    figures = _figures_of("topk_sae")
    assert "feature_density" in _drawn(figures)
    assert "Feature density on the 24 held-out examples" in figures["feature_density"].caption
    assert "sparse and overcomplete" in figures["latent_pca"].note
    events = [{"event": "train", "step": 1, "loss": 0.5, "mse": 0.4, "l0": 3.0, "fvu": 0.2}]
    panels = {key: units for key, _, units in _figures._panels(events)}
    assert panels == {
        "loss": "squared error + weighted penalties",
        "l0": "latents",
        "fvu": "share of the data's variance",
    }
    assert _figures.curves_png(events)[:4] == b"\x89PNG"


def test_sparse_metric_rows_and_their_note() -> None:
    metrics = {
        "loss": 0.6,
        "reconstruction_error": 0.3,
        "l0": 4.0,
        "fvu": 0.5,
        "dead_fraction": 0.0,
    }
    rows = dict(metric_rows(metrics, num_samples=5))
    assert rows["held-out L0 (active latents per example)"] == 4.0
    assert rows["held-out fraction of variance unexplained"] == 0.5
    assert rows["latents never active on held-out data (share)"] == 0.0
    notes = " ".join(metric_notes(metrics, list(rows.items())))
    assert "mean number of non-zero latents per example" in notes


FIGURES_IN_THE_REPORT = {
    "vae": ({"curves", "reconstructions", "samples", "traversals", "latent_pca"}, set()),
    "cvae": ({"curves", "reconstructions", "class_samples", "traversals", "latent_pca"}, set()),
    "ae": ({"curves", "reconstructions", "latent_pca"}, {"samples", "traversals"}),
    "vqvae": ({"curves", "reconstructions", "code_usage"}, {"samples", "traversals", "latent_pca"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES_IN_THE_REPORT))
def test_report_of_a_tiny_run_of_each_family(name: str, tmp_path: Path) -> None:
    x, labels = _data(40)
    torch.save({"x": x, "y": labels}, tmp_path / "tiny.pt")
    args = ["--out", str(tmp_path), "--name", "r", "--epochs", "1", "--hidden", "8"]
    args += ["--latent-dim", "2", "--quiet", "--num-samples", "2"]
    if name == "vqvae":
        args += ["--set", "num_codes=8"]
    assert main(["train", "--model", name, "--data", str(tmp_path / "tiny.pt"), *args]) == 0
    html = (tmp_path / "r" / "report.html").read_text()
    figures = re.findall(r"<figure id='(\w+)'>(.*?)</figure>", html, re.DOTALL)
    drawn = {fid for fid, body in figures if "<img" in body}
    missing = {fid for fid, body in figures if "<img" not in body}
    assert (drawn, missing) == FIGURES_IN_THE_REPORT[name]
    for fid, body in figures:
        assert ("<figcaption>" in body) == (fid in drawn)  # no caption without its figure
        if fid in missing:
            (reason,) = re.findall(r"Not shown: (.*?)</em>", body)
            assert reason.endswith(".") and ". " not in reason
    assert {p.stem for p in (tmp_path / "r" / "figures").glob("*.png")} == drawn
    if name == "cvae":  # bounds of log p(x | y), from (x, y) batches
        assert re.search(r"<th>held-out ELBO</th><td>-?[0-9.]+ nats</td>", html)
        assert "held-out training objective" not in html  # it would repeat -ELBO
    if name == "vae":
        assert "held-out training objective" not in html  # it would repeat -ELBO
        assert "not -ELBO" in html  # the reconstruction error is explained
