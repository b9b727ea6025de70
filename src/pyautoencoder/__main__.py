"""``python -m pyautoencoder``: the same command as ``pyautoencoder``."""

from .cli import run

if __name__ == "__main__":
    run()
