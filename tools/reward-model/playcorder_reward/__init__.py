"""Reward models learned from preference labels over pairs of segments (RL-Teacher, imitation): an ensemble of
small MLPs trained with the Bradley-Terry loss, active selection of pairs, a synthetic labeller, evaluation and
export. The core works on numpy arrays; `playcorder_reward.data` reads segments and labels from the API."""

from .active import disagreement, random_pairs, select_pairs
from .config import ModelConfig, TrainConfig
from .curve import CurvePoint, training_curve
from .evaluate import Evaluation, agreement, evaluate
from .features import FeatureSpec
from .model import RewardModel, load
from .preferences import Preferences
from .segments import SegmentSet
from .synthetic import LabelAnnealer, respond, synthetic_preferences
from .train import Trainer, fit

__all__ = ["CurvePoint", "Evaluation", "FeatureSpec", "LabelAnnealer", "ModelConfig", "Preferences", "RewardModel",
           "SegmentSet", "TrainConfig", "Trainer", "agreement", "disagreement", "evaluate", "fit", "load",
           "random_pairs", "respond", "select_pairs", "synthetic_preferences", "training_curve"]
