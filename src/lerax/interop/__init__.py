"""Adapters between lerax and other RL libraries: Gymnasium, gymnax and
Stable-Baselines3 (through Gymnasium).

Sits on top of `lerax.env`, `lerax.policy` and `lerax.algorithm`, like an
integration: nothing in lerax imports it, and its optional packages are
imported only when an adapter is used (Gymnasium needs the ``gymnasium`` extra,
gymnax the ``gymnax`` one; without them a `lerax.utils.MissingExtraError`
names the extra to install). See ``docs/interop.md``.

* A lerax env for Gymnasium code (and Stable-Baselines3): `to_gymnasium`,
  `to_gymnasium_vector`.
* A Gymnasium env for lerax: `GymnasiumEnv`.
* gymnax envs for lerax and lerax envs for gymnax: `GymnaxEnv`, `to_gymnax`.
* A lerax policy acting in a Gymnasium env: `policy_to_gymnasium_actor`.
* Spaces: `space_to_gymnasium`, `space_from_gymnasium`, `space_to_gymnax`,
  `space_from_gymnax`; seeds: `key_from_seed`.
"""

from ._errors import InteropError, StaleStateError, UnsupportedSpaceError
from ._from_gymnasium import GymnasiumEnv, GymnasiumState
from ._from_gymnax import GymnaxEnv
from ._gymnasium_spaces import space_from_gymnasium, space_to_gymnasium
from ._gymnax_spaces import space_from_gymnax, space_to_gymnax
from ._keys import key_from_seed
from ._policy import GymnasiumActor, policy_to_gymnasium_actor
from ._to_gymnasium import to_gymnasium, to_gymnasium_vector
from ._to_gymnax import to_gymnax

__all__ = [
    "GymnasiumActor",
    "GymnasiumEnv",
    "GymnasiumState",
    "GymnaxEnv",
    "InteropError",
    "StaleStateError",
    "UnsupportedSpaceError",
    "key_from_seed",
    "policy_to_gymnasium_actor",
    "space_from_gymnasium",
    "space_from_gymnax",
    "space_to_gymnasium",
    "space_to_gymnax",
    "to_gymnasium",
    "to_gymnasium_vector",
    "to_gymnax",
]
