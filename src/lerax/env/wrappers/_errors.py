"""The errors of the wrappers: one root, one class per cause."""

__all__ = [
    "InfoKeyCollisionError",
    "NormalizerNotFoundError",
    "UnsupportedSpaceError",
    "WrapperError",
]


class WrapperError(ValueError):
    """Root of the errors raised by `lerax.env.wrappers`.

    Invalid constructor arguments (a negative `stack_size`, a `clip` of 0) raise
    plain `ValueError` or `TypeError`, as every lerax constructor does; the
    subclasses name the causes that belong to wrapping itself.
    """


class UnsupportedSpaceError(WrapperError):
    """A wrapper got an environment whose space it cannot handle.

    Causes: `ClipAction` and `RescaleAction` of an action space that is not a
    floating `Box` (or, for `RescaleAction`, one with an infinite bound);
    `NormalizeObservation` and `FrameStack` of an observation space that is not a
    `Box` (flatten a composite space first with `FlattenObservation`).
    """


class InfoKeyCollisionError(WrapperError):
    """A wrapper would overwrite a key that the inner environment's info has.

    Cause: `RecordEpisodeStatistics` wrapping an environment that already puts
    its `stats_key` (``"episode"`` by default) in its info, for example a second
    `RecordEpisodeStatistics`; give one of them another `stats_key`.
    """


class NormalizerNotFoundError(WrapperError):
    """No `NormalizeObservation` produces the observations a policy receives.

    Causes: `lerax.policy.NormalizedPolicy` built from an environment without a
    `NormalizeObservation`, or one whose normalised observations are changed
    again before they leave the environment (by `FlattenObservation`,
    `TransformObservation`, `FrameStack` or another wrapper with
    ``changes_observations = True`` around it).
    """
