"""Any other registered Gymnasium env (CartPole, MiniGrid, ...): native frames, default map from the action space."""

from __future__ import annotations

from playcorder.specs import EnvironmentSpec

from ..default_maps import default_map_for
from . import PreparedEnv, make_gym
from .access import EnvAccess


def make(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedEnv:
    env = make_gym(spec, access)
    get_meanings = getattr(env.unwrapped, "get_action_meanings", None)
    meanings = list(get_meanings()) if callable(get_meanings) else None
    return PreparedEnv(env=env, family="gymnasium", action_meanings=meanings,
                       default_input_map=default_map_for(env.action_space, meanings=meanings))
