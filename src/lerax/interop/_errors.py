"""The errors of the adapters: one root, one class per cause."""

__all__ = [
    "InteropError",
    "StaleStateError",
    "UnsupportedSpaceError",
]


class InteropError(ValueError):
    """Root of the errors raised by `lerax.interop`.

    A missing optional package raises `lerax.utils.MissingExtraError` (an
    `ImportError`) instead, and invalid arguments (a `num_envs` of 0, an unknown
    `render_mode`) raise plain `ValueError` or `TypeError`; the subclasses name
    the causes that belong to converting between libraries.
    """


class UnsupportedSpaceError(InteropError):
    """A space has no counterpart in the other library.

    Causes: a Gymnasium `Text`, `Graph`, `Sequence` or `OneOf` space, a
    `Discrete` or `MultiDiscrete` whose values do not start at 0, a `Box` of
    booleans or with integer bounds beyond the range of JAX's integers; a
    lerax `MultiDiscrete` or `MultiBinary` space for gymnax, which has neither;
    any space object that is not a space of the library converted from.
    """


class StaleStateError(InteropError):
    """A state of a `GymnasiumEnv` no longer refers to a Gymnasium episode.

    The state of a `GymnasiumEnv` names an episode kept by the host process.
    Causes: the state comes from another process (e.g. a checkpoint) or from
    an adapter that was closed; its episode was released because more than
    `max_episodes` newer episodes were used since; or an old state of an ended
    episode was stepped with another action than the one it was stepped with.
    """
