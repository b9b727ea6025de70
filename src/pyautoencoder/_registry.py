"""``Registry[T]``: one name -> object table with a did-you-mean error (timm ``_registry.py``).

The library keeps one registry per kind of named thing (models, likelihoods, priors, MMD
kernels, noise types, optimizers, objectives, posteriors, latent samplers, activations,
quantizer specs). Each is an instance of this class, so lookups,
case rules and the "did you mean" suggestions behave the same everywhere. This module imports
nothing of the library: every layer may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

T = TypeVar("T")
_V = TypeVar("_V")


class Registry(Generic[T]):
    """Names (case-insensitive) mapped to objects of type ``T``.

    Parameters
    ----------
    kind : str
        What is registered, singular (``"likelihood"``): used in error messages.
    plural : str, optional
        Plural of ``kind`` for messages; default ``kind + "s"``.

    Examples
    --------
    >>> kernels: Registry[type] = Registry("kernel")
    >>> @kernels.register("rbf")
    ... class RBF: ...
    >>> kernels.get("RBF") is RBF
    True
    """

    def __init__(
        self,
        kind: str,
        *,
        plural: str | None = None,
        normalise: Callable[[str], str] = str.lower,
        same_object_again: bool = True,
    ) -> None:
        self.kind = kind
        self.plural = plural if plural is not None else kind + "s"
        self._normalise = normalise
        self._same_object_again = same_object_again
        #: The table itself, ``{key: object}`` (exposed for code that patches it in tests).
        self.entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[_V], _V]: ...

    @overload
    def register(self, name: str, value: T) -> T: ...

    def register(self, name: str, value: object = None) -> object:
        """Register ``value`` under ``name``, or return a decorator that does.

        Registering a different object under a taken name raises ``ValueError``; registering
        the same object again is a no-op (module reloads) unless the registry was made with
        ``same_object_again=False``.
        """
        key = self._key(name)

        def add(obj: _V) -> _V:
            current = self.entries.get(key)
            if current is not None and (current is not obj or not self._same_object_again):
                raise ValueError(f"a {self.kind} named {key!r} is already registered")
            self.entries[key] = obj  # type: ignore[assignment]
            return obj

        if value is None:
            return add
        return add(value)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plugins that register temporarily)."""
        self.entries.pop(self._key(name), None)

    def get(self, name: str) -> T:
        """The object registered under ``name``; ``ValueError`` with close matches otherwise."""
        key = self._key(name)
        if key in self.entries:
            return self.entries[key]
        raise self.unknown(name)

    def close_matches(self, name: object, n: int = 3) -> list[str]:
        """Registered names close to ``name`` (``difflib``), best first."""
        return difflib.get_close_matches(self._normalise(str(name)), list(self.entries), n=n)

    def did_you_mean(self, name: object, n: int = 3, *, inline: bool = False) -> str:
        """``" Did you mean 'a' or 'b'?"`` for the close matches of ``name``, or ``""``.

        ``inline=True`` gives the clause form ``"; did you mean 'a' or 'b'?"``.
        """
        close = self.close_matches(name, n)
        if not close:
            return ""
        options = " or ".join(map(repr, close))
        return f"; did you mean {options}?" if inline else f" Did you mean {options}?"

    def unknown(self, name: object) -> ValueError:
        """The error for an unknown name: the name, close matches and every valid name."""
        available = ", ".join(self.names())
        return ValueError(
            f"Unknown {self.kind} {name!r}.{self.did_you_mean(name)} "
            f"Available {self.plural}: {available}"
        )

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self.entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs sorted by name."""
        return sorted(self.entries.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._normalise(name) in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"

    def _key(self, name: object) -> str:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty str, got {name!r}")
        return self._normalise(name)
