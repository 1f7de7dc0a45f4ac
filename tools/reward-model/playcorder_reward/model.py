"""A trained reward model: per-step rewards and segment returns from numpy arrays, saved in one file.

The file (torch.save of plain data, loaded with weights_only) holds a format tag, the feature spec, the model
config, the normalisation and every member's state dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import ModelConfig
from .features import FeatureSpec
from .network import Ensemble
from .segments import SegmentSet

FORMAT = "playcorder-reward/1"
CHUNK = 256  # segments scored at once: bounds memory on large candidate sets


class RewardModel:
    def __init__(self, spec: FeatureSpec, config: ModelConfig, ensemble: Ensemble | None = None) -> None:
        self.spec, self.config = spec, config
        self.ensemble = ensemble or Ensemble(spec.size, config)

    def member_rewards(self, observation: np.ndarray, action: np.ndarray) -> np.ndarray:
        """(members, T) each member's reward for the T steps of (T, ...) observation and action arrays."""
        features = torch.from_numpy(self.spec.step_features(observation, action))
        self.ensemble.eval()
        with torch.no_grad():
            return np.asarray(self.ensemble(features).numpy())

    def rewards(self, observation: np.ndarray, action: np.ndarray) -> np.ndarray:
        """(T,) the ensemble's mean reward for each step."""
        return np.asarray(self.member_rewards(observation, action).mean(axis=0))

    def returns(self, segments: SegmentSet) -> np.ndarray:
        """(members, N) each member's predicted return (summed step rewards) of each segment."""
        if segments.spec != self.spec:
            raise ValueError(f"Expected segments with the model's features {self.spec}, got {segments.spec}")
        self.ensemble.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(segments), CHUNK):
                features = torch.from_numpy(segments.features[start:start + CHUNK])
                mask = torch.from_numpy(segments.mask[start:start + CHUNK])
                out.append((self.ensemble(features) * mask).sum(dim=-1).numpy())
        return np.concatenate(out, axis=1)

    def state(self) -> dict[str, Any]:
        ensemble = self.ensemble.state_dict()
        return {"format": FORMAT, "spec": self.spec.to_dict(), "config": self.config.to_dict(),
                "normalisation": {"mean": ensemble["mean"].clone(), "std": ensemble["std"].clone()},
                "members": [m.state_dict() for m in self.ensemble.members]}

    def save(self, path: str | Path) -> Path:
        """Write the model to `path` (replaced atomically: a reader never sees half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(self.state(), partial)
        partial.replace(path)
        return path


def load(path: str | Path) -> RewardModel:
    """The model saved at `path` by RewardModel.save."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"Expected a {FORMAT} model file at {path}, got {found!r}")
    spec, config = FeatureSpec.from_dict(state["spec"]), ModelConfig.from_dict(state["config"])
    if len(state["members"]) != config.members:
        raise ValueError(f"Expected {config.members} member state dicts in {path}, got {len(state['members'])}")
    model = RewardModel(spec, config)
    for member, member_state in zip(model.ensemble.members, state["members"], strict=True):
        member.load_state_dict(member_state)
    model.ensemble.mean.copy_(state["normalisation"]["mean"])
    model.ensemble.std.copy_(state["normalisation"]["std"])
    return model
