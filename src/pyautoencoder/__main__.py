"""``python -m pyautoencoder``: the same command as ``pyautoencoder``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
