"""Named product of spaces, with dict elements."""

import functools
import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ._flat import checked_flat, concatenate, split
from ._space import AbstractSpace

__all__ = ["Dict"]


@final
class Dict(AbstractSpace):
    """Dicts with fixed string keys, each value an element of that key's space.

    ``Dict({"position": Box(-1.0, 1.0, (2,)), "mode": Discrete(3)})`` has
    elements such as ``{"mode": 2, "position": [0.1, -0.4]}``. Keys are kept in
    sorted order, as Gymnasium does for a plain dict and as JAX flattens dicts;
    the flat encoding concatenates the children's encodings in that order.
    Children may themselves be `Dict` or `Tuple` spaces.

    The children are pytree children: their array fields (e.g. `Box` bounds) are
    leaves, their static fields stay static.

    Attributes:
        spaces: The child spaces by key, in sorted key order.
        shape: Always `None` (elements are dicts).
        dtype: Always `None`.
    """

    spaces: dict[str, AbstractSpace]
    shape: None = eqx.field(static=True)
    dtype: None = eqx.field(static=True)

    def __init__(
        self,
        spaces: Mapping[str, AbstractSpace]
        | Sequence[tuple[str, AbstractSpace]]
        | None = None,
        **spaces_kwargs: AbstractSpace,
    ):
        """Creates the space.

        Args:
            spaces: The child spaces by key: a mapping, or a sequence of
                ``(key, space)`` pairs.
            **spaces_kwargs: More child spaces, by keyword.

        Raises:
            TypeError: If `spaces` is neither a mapping nor a sequence of pairs,
                a key is not a string or a value is not a space.
            ValueError: If a key is given twice.
        """
        if spaces is None:
            pairs: list[Any] = []
        elif isinstance(spaces, Mapping):
            pairs = list(spaces.items())
        elif (
            isinstance(spaces, Sequence)
            and not isinstance(spaces, str)
            and all(isinstance(p, tuple | list) and len(p) == 2 for p in spaces)
        ):
            pairs = list(spaces)
        else:
            raise TypeError(
                "spaces must be a mapping or a sequence of (key, space) pairs, "
                f"got {spaces!r}"
            )
        children: dict[str, AbstractSpace] = {}
        for key, space in [*pairs, *spaces_kwargs.items()]:
            if not isinstance(key, str):
                raise TypeError(f"keys of spaces must be strings, got {key!r}")
            if not isinstance(space, AbstractSpace):
                raise TypeError(f"spaces[{key!r}] must be a space, got {space!r}")
            if key in children:
                raise ValueError(f"keys of spaces must be unique, got {key!r} twice")
            children[key] = space
        self.spaces = dict(sorted(children.items()))
        self.shape = None  # pyright: ignore[reportIncompatibleVariableOverride]
        self.dtype = None  # pyright: ignore[reportIncompatibleVariableOverride]

    def __getitem__(self, key: str) -> AbstractSpace:
        return self.spaces[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.spaces)

    def __len__(self) -> int:
        return len(self.spaces)

    def keys(self) -> list[str]:
        """The keys, in sorted order."""
        return list(self.spaces)

    def sample(self, *, key: PRNGKeyArray) -> dict[str, Any]:
        """Draws each child independently.

        Args:
            key: PRNG key.

        Returns:
            A dict with a sample of each child space.
        """
        if not self.spaces:
            return {}
        keys = jax.random.split(key, len(self.spaces))
        return {
            name: space.sample(key=k)
            for (name, space), k in zip(self.spaces.items(), keys, strict=True)
        }

    def contains(self, x: Any) -> Bool[Array, ""]:
        """Tells whether `x` is a mapping with exactly these keys, each value in
        its space.

        Args:
            x: Candidate element.

        Returns:
            Scalar boolean array.
        """
        if not isinstance(x, Mapping) or set(x.keys()) != set(self.spaces):
            return jnp.array(False)
        return functools.reduce(
            operator.and_,
            (space.contains(x[name]) for name, space in self.spaces.items()),
            jnp.array(True),
        )

    @property
    def flat_size(self) -> int:
        """Sum of the children's flat sizes."""
        return sum(space.flat_size for space in self.spaces.values())

    def flatten(self, x: Mapping[str, Any]) -> Float[Array, " flat_size"]:
        """Concatenates the children's flat encodings, in sorted key order.

        Args:
            x: An element: a mapping with exactly the space's keys.

        Returns:
            Float32 vector of length `flat_size`.

        Raises:
            ValueError: If `x` is not a mapping with exactly these keys, or a
                child's flatten refuses its value.
        """
        if not isinstance(x, Mapping) or set(x.keys()) != set(self.spaces):
            got = sorted(map(repr, x.keys())) if isinstance(x, Mapping) else None
            raise ValueError(
                f"x must be a mapping with the keys {self.keys()} to be flattened "
                "by Dict, got "
                + (f"the keys [{', '.join(got)}]" if got is not None else repr(x))
            )
        return concatenate(
            [space.flatten(x[name]) for name, space in self.spaces.items()]
        )

    def unflatten(self, flat: ArrayLike) -> dict[str, Any]:
        """Splits a vector made by `flatten` and decodes each child's part.

        Args:
            flat: Vector of length `flat_size`.

        Returns:
            A dict of the children's elements.

        Raises:
            ValueError: If `flat` does not have shape ``(flat_size,)``.
        """
        parts = split(checked_flat(self, flat), list(self.spaces.values()))
        return {
            name: space.unflatten(part)
            for (name, space), part in zip(self.spaces.items(), parts, strict=True)
        }

    def __eq__(self, other: object, /) -> bool:
        return (
            type(other) is type(self)
            and list(other.spaces) == list(self.spaces)
            and all(other.spaces[k] == v for k, v in self.spaces.items())
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.spaces.items())))
