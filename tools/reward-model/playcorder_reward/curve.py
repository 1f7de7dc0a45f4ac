"""The training curve: held-out agreement and loss against the number of labels used, as labels arrive.

Training continues one Trainer over growing prefixes of the labels (in arrival order), as a live run would; each
point is measured after that stage's epochs. Written as JSON and, with matplotlib (the `plot` extra), a PNG."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .evaluate import evaluate
from .preferences import Preferences
from .segments import SegmentSet
from .train import Trainer


@dataclass(frozen=True)
class CurvePoint:
    labels: int  # training labels used so far
    train_loss: float
    holdout_agreement: float | None
    holdout_loss: float | None
    train_agreement: float | None
    seconds: float  # the trainer's training time so far (not the time spent waiting for labels)


def label_schedule(total: int, points: int) -> list[int]:
    """`points` increasing label counts ending at `total` (fewer when there are fewer labels)."""
    if total < 1 or points < 1:
        raise ValueError(f"Expected at least one label and one point, got {total} labels and {points} points")
    return sorted({max(1, int(round(total * (i + 1) / points))) for i in range(points)})


def stage(trainer: Trainer, segments: SegmentSet, train: Preferences, holdout: Preferences | None,
          epochs: int | None = None) -> CurvePoint:
    """Train on `train` (all labels so far) and measure: one point of the curve."""
    trainer.train(segments, train, epochs)
    fitted = evaluate(trainer.model, segments, train)
    held = evaluate(trainer.model, segments, holdout) if holdout is not None and len(holdout) else None
    return CurvePoint(len(train), fitted.loss, held.agreement if held else None, held.loss if held else None,
                      fitted.agreement, round(trainer.seconds, 3))


def training_curve(trainer: Trainer, segments: SegmentSet, train: Preferences, holdout: Preferences | None,
                   points: int = 5) -> list[CurvePoint]:
    """Train on growing prefixes of `train`, measuring after each; the trainer's model is the final one."""
    train.check(len(segments))
    return [stage(trainer, segments, train.take(slice(0, n)), holdout)
            for n in label_schedule(len(train), points)]


def curve_json(points: list[CurvePoint], **extra: Any) -> dict[str, Any]:
    return {**extra, "points": [asdict(p) for p in points]}


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write JSON atomically (a dashboard reading it never sees half a file); NaN written as null."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not np.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(clean(data), indent=2) + "\n")
    partial.replace(path)
    return path


def plot(points: list[CurvePoint], path: Path, title: str = "") -> Path:
    """The curve as a PNG: held-out agreement (left axis) and losses (right axis) against labels used.

    Raises ModuleNotFoundError naming the extra when matplotlib is not installed."""
    try:
        import matplotlib
    except ModuleNotFoundError as missing:
        raise ModuleNotFoundError("Expected matplotlib for the curve PNG (pip install 'playcorder-reward[plot]'), "
                                  "got none", name="matplotlib") from missing
    matplotlib.use("Agg")
    from matplotlib import pyplot

    labels = [p.labels for p in points]
    figure, agreement_axis = pyplot.subplots(figsize=(6, 4), dpi=100)
    try:
        held = [(p.labels, p.holdout_agreement) for p in points if p.holdout_agreement is not None]
        if held:
            agreement_axis.plot(*zip(*held, strict=True), "o-", color="tab:blue", label="held-out agreement")
        agreement_axis.set_xlabel("labels used")
        agreement_axis.set_ylabel("agreement")
        agreement_axis.set_ylim(0.0, 1.0)
        loss_axis = agreement_axis.twinx()
        loss_axis.plot(labels, [p.train_loss for p in points], "s--", color="tab:orange", label="train loss")
        held_loss = [(p.labels, p.holdout_loss) for p in points if p.holdout_loss is not None]
        if held_loss:
            loss_axis.plot(*zip(*held_loss, strict=True), "^:", color="tab:red", label="held-out loss")
        loss_axis.set_ylabel("Bradley-Terry loss")
        lines = agreement_axis.get_lines() + loss_axis.get_lines()
        loss_axis.legend(lines, [str(line.get_label()) for line in lines], loc="center right", fontsize="small")
        agreement_axis.set_title(title or "reward model")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        pyplot.close(figure)
    return path
