"""AutoencoderModule: steps and logging, batch layouts, beta schedules, optimizers,
checkpoints, lazy layers and the missing-extra error."""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pyautoencoder.lightning import AutoencoderModule, BetaScheduleCallback, load_model_weights
from pyautoencoder.training import CyclicalBeta, LinearWarmup
from pyautoencoder.vanilla import AE
from pyautoencoder.variational import CVAE, VAE, AdaGVAE

pytestmark = pytest.mark.usefixtures("seeded")


def _ae() -> AE:
    return AE(nn.Sequential(nn.Linear(6, 3)), nn.Sequential(nn.Linear(3, 6)))


def _vae() -> VAE:
    return VAE(nn.Sequential(nn.Linear(6, 5), nn.Tanh()), nn.Linear(2, 6), latent_dim=2)


def _trainer(tmp_path: Path, **kwargs: Any) -> L.Trainer:
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": tmp_path,
    }
    options.update(kwargs)
    return L.Trainer(**options)


def _loader(*tensors: torch.Tensor, batch_size: int = 4) -> DataLoader:
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=False)


class _RecordBeta(L.Callback):
    """Records the beta tensor that the training step of each batch used."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.tensors: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: Any) -> None:
        beta = pl_module.loss_kwargs["beta"]
        self.tensors.append(beta)
        self.values.append(float(beta))


def test_fast_dev_run_logs_train_and_val_metrics_equal_to_the_loss(tmp_path: Path) -> None:
    model = _ae()
    x = torch.rand(8, 6)
    trainer = _trainer(tmp_path, fast_dev_run=True)
    trainer.fit(AutoencoderModule(model), _loader(x), _loader(x))
    metrics = trainer.callback_metrics
    assert {"train/loss", "train/log_likelihood", "val/loss", "val/log_likelihood"} <= set(metrics)
    # val runs after the single training step: the reference is the final model's AE loss
    # (C-AE-3, gaussian) on the first validation batch, written out independently.
    with torch.no_grad():
        batch = x[:4]
        expected = 0.5 * ((batch - model(batch).x_hat) ** 2).sum(dim=1).mean()
    torch.testing.assert_close(metrics["val/loss"], expected)
    torch.testing.assert_close(metrics["val/log_likelihood"], -expected)


def test_training_step_lowers_the_loss_with_the_default_adam(tmp_path: Path) -> None:
    model = _vae()
    x = torch.rand(32, 6)
    module = AutoencoderModule(model, forward_kwargs={"sample": False}, example_input=x[:2])
    before = model.compute_loss(x, model(x, sample=False)).objective.item()
    _trainer(tmp_path, max_epochs=15).fit(module, _loader(x, batch_size=8))
    after = model.compute_loss(x, model(x, sample=False)).objective.item()
    assert isinstance(module.configure_optimizers(), torch.optim.Adam)
    assert module.configure_optimizers().param_groups[0]["lr"] == 1e-3
    assert after < before - 0.1


@pytest.mark.parametrize(
    "layout", ["tensor", "tuple", "list", "dict"], ids=lambda layout: f"batch-{layout}"
)
def test_batch_layouts_give_the_same_x(layout: str) -> None:
    module = AutoencoderModule(_ae())
    x, y = torch.rand(4, 6), torch.arange(4)
    batch: Any = {"tensor": x, "tuple": (x, y), "list": [x, y], "dict": {"x": x, "y": y}}[layout]
    got, extra = module.split_batch(batch)
    assert got is x
    assert extra == ()


def test_conditional_model_takes_its_condition_from_the_batch(tmp_path: Path) -> None:
    encoder = nn.Sequential(nn.LazyLinear(5), nn.Tanh())  # input: x and the one-hot y
    model = CVAE(encoder, nn.LazyLinear(6), latent_dim=2, condition_dim=3)
    x, y = torch.rand(8, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    module = AutoencoderModule(model, example_input=x[:2])
    got, extra = module.split_batch({"x": x, "y": y, "index": torch.arange(8)})
    assert got is x and len(extra) == 1 and extra[0] is y
    with pytest.raises(ValueError, match=r"needs \['y'\] besides x"):
        module.split_batch(x)
    with pytest.raises(KeyError, match=r"lacks \['y'\]"):
        module.split_batch({"x": x})
    trainer = _trainer(tmp_path, fast_dev_run=True)
    trainer.fit(module, _loader(x, y), _loader(x, y))
    assert torch.isfinite(trainer.callback_metrics["val/elbo"])


def test_pair_model_trains_through_batch_fn(tmp_path: Path) -> None:
    """AdaGVAE takes ``(x1, x2)`` as its input: ``batch_fn`` turns the batch into that pair."""
    vae = VAE(nn.Sequential(nn.Linear(6, 5), nn.Tanh()), nn.Linear(2, 6), latent_dim=2)
    model = AdaGVAE(vae)
    x1, x2 = torch.rand(8, 6), torch.rand(8, 6)
    module = AutoencoderModule(
        model, example_input=x1[:2], batch_fn=lambda batch: ((batch[0], batch[1]), ())
    )
    x, extra = module.split_batch([x1, x2])
    assert x[0] is x1 and x[1] is x2 and extra == ()
    before = [p.detach().clone() for p in model.parameters()]
    trainer = _trainer(tmp_path, fast_dev_run=True)
    trainer.fit(module, _loader(x1, x2), _loader(x1, x2))
    metrics = trainer.callback_metrics
    for key in ("loss", "elbo", "log_likelihood_x1", "kl_divergence_x2"):
        assert torch.isfinite(metrics[f"train/{key}"]) and torch.isfinite(metrics[f"val/{key}"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_unknown_batch_type_and_keywords_are_named() -> None:
    module = AutoencoderModule(_ae())
    with pytest.raises(TypeError, match="a batch must be a tensor"):
        module.split_batch("not a batch")
    with pytest.raises(TypeError, match=r"AE.compute_loss got unexpected keyword\(s\) \['beta'\]"):
        AutoencoderModule(_ae(), loss_kwargs={"beta": 2.0})
    with pytest.raises(TypeError, match=r"VAE.forward got unexpected keyword\(s\) \['samples'\]"):
        AutoencoderModule(_vae(), forward_kwargs={"samples": 2})
    with pytest.raises(TypeError, match="optimizer must be a callable"):
        AutoencoderModule(_ae(), optimizer=0.1)  # type: ignore[arg-type]


def test_linear_warmup_sets_beta_tensor_before_each_step(tmp_path: Path) -> None:
    x = torch.rand(24, 6)
    record = _RecordBeta()
    module = AutoencoderModule(_vae(), example_input=x[:2])
    callbacks = [BetaScheduleCallback(LinearWarmup(4, start=0.0, end=2.0)), record]
    _trainer(tmp_path, max_epochs=1, callbacks=callbacks).fit(module, _loader(x))
    assert record.values == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert all(t is record.tensors[0] for t in record.tensors)  # one tensor, updated in place
    assert record.tensors[0].dim() == 0


def test_cyclical_beta_is_bound_to_the_run_length(tmp_path: Path) -> None:
    x = torch.rand(32, 6)
    record = _RecordBeta()
    module = AutoencoderModule(_vae(), example_input=x[:2])
    schedule = CyclicalBeta(num_cycles=2, ratio=0.5)  # no total_steps: bound to 8 steps
    callbacks = [BetaScheduleCallback(schedule), record]
    _trainer(tmp_path, max_epochs=1, callbacks=callbacks).fit(module, _loader(x))
    # Fu et al. 2019, eq. 6 with T = 8 / 2 = 4 steps per cycle, rising over the first 2.
    assert record.values == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0]


def test_beta_weight_reaches_the_loss(tmp_path: Path) -> None:
    x = torch.rand(4, 6)
    module = AutoencoderModule(_vae(), forward_kwargs={"sample": False}, example_input=x[:2])
    trainer = _trainer(tmp_path, max_steps=1, callbacks=[BetaScheduleCallback(3.0)])
    trainer.fit(module, _loader(x), _loader(x))
    metrics = trainer.callback_metrics
    assert float(metrics["train/beta"]) == 3.0
    torch.testing.assert_close(
        metrics["val/elbo"], metrics["val/log_likelihood"] - 3.0 * metrics["val/kl_divergence"]
    )


def test_beta_schedule_on_a_model_without_beta_is_refused(tmp_path: Path) -> None:
    x = torch.rand(4, 6)
    trainer = _trainer(tmp_path, max_steps=1, callbacks=[BetaScheduleCallback(LinearWarmup(2))])
    with pytest.raises(TypeError, match=r"AE\.compute_loss .*unexpected keyword"):
        trainer.fit(AutoencoderModule(_ae()), _loader(x))
    with pytest.raises(TypeError, match="schedule must be"):
        BetaScheduleCallback("linear")  # type: ignore[arg-type]


def test_optimizer_partial_and_scheduler_factory(tmp_path: Path) -> None:
    x = torch.rand(16, 6)
    module = AutoencoderModule(
        _ae(),
        optimizer=functools.partial(torch.optim.SGD, lr=0.5),
        lr_scheduler=lambda opt: {
            "scheduler": torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
            "interval": "step",
        },
    )
    trainer = _trainer(tmp_path, max_steps=3)
    trainer.fit(module, _loader(x))
    optimizer = trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * 0.5**3)


def test_optimizer_factory_must_return_an_optimizer() -> None:
    module = AutoencoderModule(_ae(), optimizer=lambda params: list(params))  # type: ignore
    with pytest.raises(TypeError, match=r"must return a torch\.optim\.Optimizer, got list"):
        module.configure_optimizers()


def test_unbuilt_lazy_model_is_refused_with_the_fix(tmp_path: Path) -> None:
    x = torch.rand(8, 6)
    trainer = _trainer(tmp_path, fast_dev_run=True)
    with pytest.raises(RuntimeError, match=r"lazy layers .*model\.build\(x\).*example_input"):
        trainer.fit(AutoencoderModule(_vae()), _loader(x))


def test_checkpoint_weights_load_into_a_fresh_bare_model(tmp_path: Path) -> None:
    x = torch.rand(16, 6)
    model = _vae()
    trainer = _trainer(tmp_path, max_epochs=2, enable_checkpointing=True)
    trainer.fit(AutoencoderModule(model, example_input=x[:2]), _loader(x), _loader(x))
    path = trainer.checkpoint_callback.best_model_path  # type: ignore[union-attr]
    assert path.endswith(".ckpt")
    raw = torch.load(path, weights_only=True)["state_dict"]
    assert all(key.startswith("model.") for key in raw)

    fresh = _vae()  # never built: lazy layers materialise from the checkpoint (C-BASE-5)
    assert load_model_weights(path, fresh) is fresh
    other = AutoencoderModule.load_model_weights(path, _vae())
    for loaded in (fresh, other):
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value)
        with torch.no_grad():
            out, expected = loaded(x, sample=False), model(x, sample=False)
        assert torch.equal(out.x_hat, expected.x_hat) and torch.equal(out.mu, expected.mu)


class _Pickled:
    """Any class: weights-only loading must refuse to unpickle it."""


def test_checkpoint_loader_is_weights_only_and_checks_the_layout(tmp_path: Path) -> None:
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": {"model.w": torch.zeros(1)}, "extra": _Pickled()}, unsafe)
    with pytest.raises(ValueError, match="weights-only Lightning checkpoint"):
        load_model_weights(unsafe, _ae())
    bare = tmp_path / "bare.pt"
    torch.save(_ae().state_dict(), bare)
    with pytest.raises(ValueError, match="no 'state_dict' entry"):
        load_model_weights(bare, _ae())
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"net.w": torch.zeros(1)}}, other)
    with pytest.raises(ValueError, match=r"no 'model\.' weights .*\['net'\]"):
        load_model_weights(other, _ae())
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_model_weights(tmp_path / "missing.ckpt", _ae())


def test_import_without_lightning_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "pyautoencoder.lightning" or name.startswith("pyautoencoder.lightning."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "lightning", None)
    with pytest.raises(ImportError, match=r'pip install "pyautoencoder\[lightning\]"'):
        importlib.import_module("pyautoencoder.lightning")


def test_the_model_post_step_hook_runs_after_every_optimizer_step(tmp_path: Path) -> None:
    """A sparse autoencoder's dictionary columns are back at unit norm after Lightning steps."""
    from pyautoencoder.dictionary import TopKSAE

    calls: list[int] = []

    class Counting(TopKSAE):
        def after_optimizer_step(self) -> None:
            calls.append(1)
            super().after_optimizer_step()

    torch.manual_seed(0)
    model = Counting(6, 10, k=2)
    x = torch.randn(16, 6)
    _trainer(tmp_path, max_steps=3).fit(AutoencoderModule(model), _loader(x))
    assert len(calls) == 3
    torch.testing.assert_close(model.W_dec.detach().norm(dim=0), torch.ones(10))


def test_models_with_several_optimizers_are_refused_instead_of_trained_wrongly() -> None:
    from pyautoencoder.variational import FactorVAE

    model = FactorVAE(torch.nn.Linear(6, 8), torch.nn.Linear(2, 6), 2, discriminator_hidden=(4,))
    with pytest.raises(TypeError, match=r"several optimizers \(training_steps\(\)\)"):
        AutoencoderModule(model)
