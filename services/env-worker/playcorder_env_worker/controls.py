"""Turns a participant's input into actions through the environment's input map, or takes explicit actions."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from playcorder.inputs import DiscreteMap, InputMap, InputState

from .envs import to_action
from .mapping import ContinuousMapper, DiscreteMapper


class Controls:
    def __init__(self, input_map: InputMap, space: gym.Space) -> None:
        self.space = space
        self.input_map = input_map
        if isinstance(input_map, DiscreteMap):
            if not isinstance(space, gym.spaces.Discrete):
                raise ValueError(f"Expected a Discrete action space for a discrete input map, got {space}")
            self.mapper: Any = DiscreteMapper(input_map, int(space.n))
        else:
            if not isinstance(space, gym.spaces.Box):
                raise ValueError(f"Expected a Box action space for a continuous input map, got {space}")
            self.mapper = ContinuousMapper(input_map, space.low, space.high)
        self.state = InputState()
        self.previous = InputState()
        self.explicit: Any = None
        # per-step results of one input state, worked out once: a realtime step must not rebuild (and validate)
        # the same action and recorded input at every tick. Keyed by the state object: input replaces it.
        self._action_of: tuple[InputState, Any] | None = None
        self._raw_of: tuple[InputState, bool, dict[str, Any]] | None = None

    def update(self, state: InputState) -> bool:
        """Take a new input state; returns whether a bound input was newly pressed (a turn-based step)."""
        if type(state) is not InputState:  # the `input` message: record the state, not the envelope
            state = InputState.model_construct(**{name: getattr(state, name) for name in InputState.model_fields})
        self.previous, self.state, self.explicit = self.state, state, None
        if isinstance(self.mapper, ContinuousMapper):
            self.mapper.note(state)  # a toggle tapped between two ticks flips all the same
        if hasattr(self.mapper, "pressed_new"):
            return bool(self.mapper.pressed_new(self.previous, state))
        return self.held()

    def set_explicit(self, raw: Any) -> Any:
        self.explicit = to_action(self.space, raw)
        return self.explicit

    def held(self) -> bool:
        return self.explicit is not None or self.input_held()

    def input_held(self) -> bool:
        """A bound key, button or axis is held right now (a participant holding a key is not idle)."""
        return bool(self.mapper.held(self.state))

    def action(self, dt: float) -> Any:
        if self.explicit is not None:
            return self.explicit
        if isinstance(self.mapper, DiscreteMapper):
            if self._action_of is None or self._action_of[0] is not self.state:
                # Maps bind indices 0..n-1; the space may start elsewhere.
                self._action_of = (self.state, to_action(self.space, int(self.space.start)
                                                         + self.mapper.action(self.state)))
            return self._action_of[1]
        return self.mapper.action(self.state, dt)

    def reset(self) -> None:
        self.explicit = None
        if hasattr(self.mapper, "reset"):
            self.mapper.reset()

    def raw(self) -> dict[str, Any]:
        """The input state recorded with a step: only what was in use, to keep records small."""
        explicit = self.explicit is not None
        if self._raw_of is None or self._raw_of[0] is not self.state or self._raw_of[1] != explicit:
            raw = {k: v for k, v in self.state.model_dump().items() if v}
            if explicit:
                raw["explicit"] = True
            self._raw_of = (self.state, explicit, raw)
        return self._raw_of[2]
