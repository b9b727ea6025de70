"""Run many command lines in one process and record what each would show a user.

Usage: ``python cli_driver.py WORKDIR CASES.json`` writes ``WORKDIR/results.json``.

Starting a fresh interpreter per case would cost seconds each (torch, Lightning); this script
pays that once and calls :func:`pyautoencoder.cli.main` per case the way ``python -m
pyautoencoder`` does, recording its exit code and, captured at the file-descriptor level (so
that anything Lightning or a C library prints is caught too), everything written to stderr. An
exception escaping ``main`` is recorded as the traceback the interpreter would have printed.

Before the cases it prepares ``WORKDIR``: small data files (good and bad ones) and two tiny
trained runs, ``runs/tiny`` (a VAE on ``tiny.npy``) and ``runs/cvae`` (a CVAE on
``labelled.pt``). A case may name a ``damage`` (a function below) applied to a fresh copy of
``runs/tiny``; ``{run}`` in its argv is replaced by that copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from pyautoencoder.cli import main

TRAIN = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--batch-size", "16"]
QUIET = ["--quiet", "--no-report", "--num-samples", "2", "--logger", "none", "--threads", "1"]


@contextlib.contextmanager
def captured_stderr() -> Iterator[Callable[[], str]]:
    """Redirect file descriptor 2 (and ``sys.stderr``) to a temp file for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        text: list[str] = []
        try:
            yield lambda: "".join(text)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text.append(sink.read().decode("utf-8", "replace"))


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def run(argv: list[str]) -> dict[str, object]:
    """Exit code and stderr of ``pyautoencoder <argv>`` (in this process)."""
    os.environ.pop("PYAUTOENCODER_RUN_NAME", None)  # a fresh process would not have it
    with captured_stderr() as stderr, quiet_stdout():
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # what the interpreter would print
            traceback.print_exc()
            code = 1
    return {"code": code, "stderr": stderr()}


# ---------------------------------------------------------------------- files
def prepare(work: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(work / "tiny.npy", rng.random((40, 1, 4, 4), dtype=np.float32))
    np.save(work / "strings.npy", np.array(["a", "b", "c"]))
    (work / "text.npy").write_text("this is not an array\n")
    np.save(work / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(work / "flat.npy", rng.random(40, dtype=np.float32))
    with_nan = rng.random((40, 6), dtype=np.float32)
    with_nan[3, 2] = np.nan
    np.save(work / "nan.npy", with_nan)
    np.save(work / "pixels.npy", (rng.random((40, 6)) * 255).astype(np.float32))
    np.save(work / "huge.npy", (rng.random((40, 6)) * 1e30).astype(np.float32))
    (work / "bad-idx").mkdir()
    (work / "bad-idx" / "t10k-images-idx3-ubyte").write_bytes(b"GIF89a not an idx file")
    (work / "bad-idx" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    (work / "a-file").write_text("a file, not a folder\n")
    torch.save(
        {
            "x": torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(0)),
            "y": torch.arange(60) % 3,
        },
        work / "labelled.pt",
    )
    for name, data, model in (("tiny", "tiny.npy", "vae"), ("cvae", "labelled.pt", "cvae")):
        result = run(
            [
                "train",
                "--model",
                model,
                "--data",
                data,
                "--out",
                "runs",
                "--name",
                name,
                *TRAIN,
                *QUIET,
            ]
        )
        if result["code"] != 0:
            raise RuntimeError(f"could not train runs/{name}: {result['stderr']}")


# ---------------------------------------------------------------------- damage
def _latest(run_dir: Path) -> Path:
    root = run_dir / "checkpoints"
    return root / (root / "latest").read_text().strip()


def _edit_run_json(run_dir: Path, **fields: object) -> None:
    path = run_dir / "run.json"
    values = json.loads(path.read_text())
    values.update(fields)
    path.write_text(json.dumps(values))


def _edit_state(run_dir: Path, edit: Callable[[dict], None]) -> None:
    path = _latest(run_dir) / "trainer_state.pt"
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)


def _edit_weights(run_dir: Path, edit: Callable[[dict], None]) -> None:
    from safetensors.torch import load_file, save_file

    path = _latest(run_dir) / "model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)


class Payload:
    """A pickle that would create a file when unpickled (it must never be)."""

    def __init__(self, sentinel: str) -> None:
        self.sentinel = sentinel

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.sentinel}",))


def _poison(name: str) -> Callable[[dict], None]:
    def edit(tensors: dict) -> None:
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float("nan") if "bias" in name else float("inf")

    return edit


def _degenerate(tensors: dict) -> None:
    """Finite weights whose posterior scale underflows to 0: exp(0.5 * -300)."""
    for name in tensors:
        if "log_var" in name:
            tensors[name] = torch.full_like(tensors[name], -300.0 if "bias" in name else 0.0)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "run_json_not_json": lambda r: (r / "run.json").write_text("{not json"),
    "run_json_not_utf8": lambda r: (r / "run.json").write_bytes(b"\xff\xfe{\x00"),
    "run_json_model_5": lambda r: _edit_run_json(r, model=5),
    "run_json_hidden_5": lambda r: _edit_run_json(r, hidden=5),
    "run_json_epochs_str": lambda r: _edit_run_json(r, epochs="3"),
    "run_json_precision_123": lambda r: _edit_run_json(r, precision=123),
    "state_step_abc": lambda r: _edit_state(r, lambda s: s.update(step="abc")),
    "state_no_rng": lambda r: _edit_state(r, lambda s: s.pop("rng")),
    "state_optimizer_list": lambda r: _edit_state(r, lambda s: s.update(optimizer=[1, 2])),
    "state_pickle_payload": lambda r: torch.save(
        {"format_version": 1, "step": Payload(str(r.parent / "pwned"))},  # damaged/pwned
        _latest(r) / "trainer_state.pt",
    ),
    "latest_not_utf8": lambda r: (r / "checkpoints" / "latest").write_bytes(b"\xff\xfe\x00"),
    "latest_escapes": lambda r: (r / "checkpoints" / "latest").write_text("../../a-file\n"),
    "weights_truncated": lambda r: (_latest(r) / "model.safetensors").write_bytes(
        (_latest(r) / "model.safetensors").read_bytes()[:100]
    ),
    "weights_nan": lambda r: _edit_weights(r, _poison("sampling_layer.mu.bias")),
    "weights_inf": lambda r: _edit_weights(r, _poison("decoder.layers.0.weight")),
    "posterior_degenerate": lambda r: _edit_weights(r, _degenerate),
}


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` read-only: chmod for ordinary users, and (as root ignores modes) the
    ``EACCES`` a read-only folder gives, raised by ``os.mkdir``/``os.open`` for paths in it."""
    import errno

    folder.mkdir()
    folder.chmod(0o555)
    mkdir, open_ = os.mkdir, os.open

    def inside(path: object) -> bool:
        return str(Path(os.fspath(path)).resolve()).startswith(str(folder.resolve()) + os.sep)

    def refuse(path: object) -> OSError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def guarded_mkdir(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if inside(path):
            raise refuse(path)
        return mkdir(path, *args, **kwargs)

    def guarded_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            raise refuse(path)
        return open_(path, flags, *args, **kwargs)

    os.mkdir, os.open = guarded_mkdir, guarded_open
    try:
        yield
    finally:
        os.mkdir, os.open = mkdir, open_
        folder.chmod(0o755)


def run_case(work: Path, case: dict) -> dict[str, object]:
    argv = list(case["argv"])
    if "read_only" in case:
        with read_only(work / case["read_only"]):
            return run(argv)
    damage = case.get("damage")
    if damage is not None:
        copy = work / "damaged" / case["id"]
        shutil.copytree(work / "runs" / "tiny", copy)
        DAMAGE[damage](copy)
        argv = [part.replace("{run}", str(copy)) for part in argv]
    result = run(argv)
    if damage is not None:
        result["files"] = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file())
        result["payload_ran"] = (copy.parent / "pwned").exists()
    return result


def _main() -> None:
    work, cases_file = Path(sys.argv[1]), Path(sys.argv[2])
    os.chdir(work)
    torch.set_num_threads(1)
    prepare(work)
    cases = json.loads(cases_file.read_text())
    results = {case["id"]: run_case(work, case) for case in cases}
    results["__runs__"] = {"folders": sorted(p.name for p in (work / "runs").iterdir())}
    (work / "results.json").write_text(json.dumps(results))


if __name__ == "__main__":
    _main()
