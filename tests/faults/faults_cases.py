"""Damaged run folders and further command lines for the driver (see cli_driver.py).

Each damaged case copies the trained ``runs/tiny`` (a VAE, 2 optimizer steps), applies the
named ``damage`` and runs ``argv`` with ``{run}`` replaced by the copy; the line must hold
``fragment``.
"""

from __future__ import annotations

from typing import Any

QUIET = ["--quiet", "--no-report", "--num-samples", "2", "--logger", "none", "--threads", "1"]
RESUME = ["train", "--resume", "{run}", "--epochs", "2", *QUIET]
EVALUATE = ["evaluate", "{run}", "--num-samples", "2"]

DAMAGED_RUNS: list[dict[str, Any]] = [
    {
        "id": "run.json not JSON",
        "damage": "run_json_not_json",
        "argv": EVALUATE,
        "fragment": "cannot read",
    },
    {
        "id": "run.json not UTF-8",
        "damage": "run_json_not_utf8",
        "argv": EVALUATE,
        "fragment": "cannot read",
    },
    {
        "id": "run.json model 5",
        "damage": "run_json_model_5",
        "argv": EVALUATE,
        "fragment": "run.json: 'model' must be a string, got 5 (int)",
    },
    {
        "id": "run.json hidden 5",
        "damage": "run_json_hidden_5",
        "argv": EVALUATE,
        "fragment": "run.json: 'hidden' must be a list of ints >= 1, got 5 (int)",
    },
    {
        "id": "run.json epochs '3'",
        "damage": "run_json_epochs_str",
        "argv": RESUME,
        "fragment": "run.json: 'epochs' must be an int >= 1, got '3' (str)",
    },
    {
        "id": "run.json precision 123",
        "damage": "run_json_precision_123",
        "argv": RESUME,
        "fragment": "run.json: 'precision' must be a string, got 123 (int)",
    },
    {
        "id": "trainer state step 'abc'",
        "damage": "state_step_abc",
        "argv": RESUME,
        "fragment": "'step' must be an int >= 0, got 'abc' (str)",
    },
    {
        "id": "trainer state without rng",
        "damage": "state_no_rng",
        "argv": RESUME,
        "fragment": "missing field 'rng'",
    },
    {
        "id": "trainer state optimizer not a dict",
        "damage": "state_optimizer_list",
        "argv": RESUME,
        "fragment": "'optimizer' must be an object, got [1, 2] (list)",
    },
    {
        "id": "trainer state with a pickle payload",
        "damage": "state_pickle_payload",
        "argv": RESUME,
        "fragment": "refusing to load trainer state",
    },
    {
        "id": "latest not UTF-8",
        "damage": "latest_not_utf8",
        "argv": EVALUATE,
        "fragment": "is not a checkpoint pointer (not UTF-8 text)",
    },
    {
        "id": "latest leaves the folder",
        "damage": "latest_escapes",
        "argv": EVALUATE,
        "fragment": "must hold the name of one checkpoint folder next to it",
    },
    {
        "id": "weights truncated",
        "damage": "weights_truncated",
        "argv": EVALUATE,
        "fragment": "cannot read checkpoint weights",
    },
    {
        "id": "NaN weights, sample",
        "damage": "weights_nan",
        "argv": ["sample", "{run}", "-o", "{run}/samples.png"],
        "fragment": "holds non-finite weights: sampling_layer.mu.bias (1 NaN, 0 inf of 2)",
    },
    {
        "id": "inf weights, evaluate",
        "damage": "weights_inf",
        "argv": EVALUATE,
        "fragment": "holds non-finite weights: decoder.layers.0.weight (0 NaN, 1 inf of",
    },
    {
        "id": "degenerate posterior, evaluate",
        "damage": "posterior_degenerate",
        "argv": EVALUATE,
        "fragment": "at step 2: the model produced non-finite or degenerate values",
    },
]

TRAIN = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--batch-size", "16"]

EXTRA_CASES: list[dict[str, Any]] = [
    {"id": "cvae samples per label", "argv": ["sample", "runs/cvae", "-n", "6", "-o", "c.png"]},
    {
        "id": "read-only --out folder",
        "read_only": "read-only",
        "argv": [
            "train",
            "--model",
            "vae",
            "--data",
            "tiny.npy",
            "--out",
            "read-only",
            *TRAIN,
            *QUIET,
        ],
    },
    {
        "id": "16-mixed on CPU",
        "argv": [
            "train",
            "--model",
            "vae",
            "--data",
            "tiny.npy",
            "--precision",
            "16-mixed",
            "--out",
            "runs",
            "--name",
            "p16",
            "--accelerator",
            "cpu",
            *TRAIN,
            *QUIET,
        ],
    },
]
