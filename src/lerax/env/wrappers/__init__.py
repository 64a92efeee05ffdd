"""Environment wrappers: functional, composable, saved like any lerax env.

A wrapper is an environment holding another one in its ``env`` field; it
implements the hooks of `lerax.env.AbstractEnv` by calling the inner env's
hooks, so the automatic reset and ``info["final_observation"]`` happen once, in
the outermost `step`. Stateless wrappers keep the inner state as their state;
stateful ones nest it in their own state class, as ``env_state``. See
``docs/wrappers.md``.
"""

from ._action import ClipAction, RescaleAction
from ._base import (
    AbstractActionWrapper,
    AbstractObservationWrapper,
    AbstractRewardWrapper,
    AbstractWrapper,
)
from ._episode_statistics import EpisodeStatisticsState, RecordEpisodeStatistics
from ._errors import (
    InfoKeyCollisionError,
    NormalizerNotFoundError,
    UnsupportedSpaceError,
    WrapperError,
)
from ._frame_stack import FrameStack, FrameStackState
from ._normalize import (
    NormalizeObservation,
    NormalizeObservationState,
    NormalizeReward,
    NormalizeRewardState,
    observation_normalizer,
)
from ._observation import FlattenObservation, TransformObservation
from ._reward import TransformReward
from ._statistics import ObservationNormalizer, RunningMeanStd
from ._time_limit import TimeLimit, TimeLimitState

__all__ = [
    "AbstractActionWrapper",
    "AbstractObservationWrapper",
    "AbstractRewardWrapper",
    "AbstractWrapper",
    "ClipAction",
    "EpisodeStatisticsState",
    "FlattenObservation",
    "FrameStack",
    "FrameStackState",
    "InfoKeyCollisionError",
    "NormalizeObservation",
    "NormalizeObservationState",
    "NormalizeReward",
    "NormalizeRewardState",
    "NormalizerNotFoundError",
    "ObservationNormalizer",
    "RecordEpisodeStatistics",
    "RescaleAction",
    "RunningMeanStd",
    "TimeLimit",
    "TimeLimitState",
    "TransformObservation",
    "TransformReward",
    "UnsupportedSpaceError",
    "WrapperError",
    "observation_normalizer",
]
