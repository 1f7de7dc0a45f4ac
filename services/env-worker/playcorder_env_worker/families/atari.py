"""Atari: every game ale-py ships ('ALE/<Game>-v5'); native 210x160 frames, action meanings from the ALE."""

from __future__ import annotations

from playcorder.specs import EnvironmentSpec

from ..default_maps import default_atari_map
from . import PreparedEnv, make_gym
from .access import EnvAccess


def make(spec: EnvironmentSpec, access: EnvAccess | None = None) -> PreparedEnv:
    env = make_gym(spec, access)
    get_meanings = getattr(env.unwrapped, "get_action_meanings", None)
    if get_meanings is None:
        env.close()
        raise ValueError(f"Expected an ALE environment for family 'atari', got {spec.env_id!r}")
    meanings = list(get_meanings())
    return PreparedEnv(env=env, family="atari", default_input_map=default_atari_map(meanings),
                       action_meanings=meanings)
