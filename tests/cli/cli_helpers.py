"""Constants shared by the command-line tests (a uniquely named module: conftest names clash)."""

FAST = ["--quiet", "--num-samples", "5"]
