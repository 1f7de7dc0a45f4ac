"""Training runs against a live experiment: once on every label there is (`train`), or as labels arrive
(`follow`). Each writes into one folder: model.pt, curve.json, curve.png (with matplotlib) and summary.json,
rewritten atomically after every stage so a reader always finds a consistent set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import curve
from .config import ModelConfig, TrainConfig
from .curve import CurvePoint
from .data import ArrayCache, Dataset, LabelFeed, PreferenceClient, build, split
from .evaluate import agreement
from .preferences import Preferences
from .train import Trainer

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    experiment_id: str
    out: Path
    model: ModelConfig
    train: TrainConfig
    holdout: float = 0.2
    curve_points: int = 5
    action_classes: int | None = None


def _true_agreement(trainer: Trainer, dataset: Dataset, holdout: Preferences) -> float | None:
    """Held-out agreement with the true returns (sign of summed rewards), when the segments came with rewards."""
    if dataset.true_returns is None or not len(holdout):
        return None
    predicted = trainer.model.returns(dataset.segments).mean(axis=0)
    true = dataset.true_returns
    decided = true[holdout.left] != true[holdout.right]
    label = np.where(decided, (true[holdout.left] > true[holdout.right]).astype(np.float32), 0.5)
    return agreement(predicted[holdout.left] - predicted[holdout.right], label)


def write(options: RunOptions, trainer: Trainer, dataset: Dataset, train: Preferences, holdout: Preferences,
          points: list[CurvePoint], cursor: int, log: Log) -> dict[str, Any]:
    """Model, curve and summary into options.out; the summary."""
    out = options.out
    trainer.model.save(out / "model.pt")
    curve.write_json(out / "curve.json", curve.curve_json(points, experiment=options.experiment_id))
    files = {"model": "model.pt", "curve": "curve.json"}
    try:
        curve.plot(points, out / "curve.png", title=f"experiment {options.experiment_id}")
        files["curve_png"] = "curve.png"
    except ModuleNotFoundError as missing:
        log(f"no curve.png: {missing}")
    last = points[-1]
    labels = {"used": len(dataset.preferences), "cant_tell": dataset.cant_tell, "train": len(train),
              "holdout": len(holdout), "ties": int(np.sum(dataset.preferences.label == 0.5))}
    summary = {"experiment": options.experiment_id, "cursor": cursor, "labels": labels,
               "segments": len(dataset.segments), "holdout_agreement": last.holdout_agreement,
               "holdout_loss": last.holdout_loss, "holdout_true_agreement": _true_agreement(trainer, dataset, holdout),
               "train_agreement": last.train_agreement, "train_loss": last.train_loss,
               "train_seconds": last.seconds, "features": dataset.segments.spec.to_dict(),
               "model": options.model.to_dict(), "training": {**asdict(options.train), "holdout": options.holdout},
               "files": files}
    curve.write_json(out / "summary.json", summary)
    return summary


def train_once(client: PreferenceClient, options: RunOptions, log: Log) -> dict[str, Any]:
    """Every label there is now; the curve over growing prefixes of them (in arrival order)."""
    feed = LabelFeed(client, options.experiment_id)
    labels = feed.read_all()
    log(f"{len(labels)} labels read")
    dataset = build(labels, ArrayCache(client, options.experiment_id), action_classes=options.action_classes)
    train, holdout = split(dataset, options.holdout, options.train.seed)
    trainer = Trainer(dataset.segments.spec, options.model, options.train)
    points = curve.training_curve(trainer, dataset.segments, train, holdout, options.curve_points)
    return write(options, trainer, dataset, train, holdout, points, feed.cursor, log)


def follow(client: PreferenceClient, options: RunOptions, log: Log, wait: float = 30.0, min_new: int = 10,
           max_labels: int | None = None, closed: Callable[[], bool] | None = None) -> dict[str, Any] | None:
    """Train a stage whenever `min_new` labels have arrived (long-polling up to `wait` s), until `max_labels` are
    used or `closed()` says the experiment takes no more answers; the same trainer continues from stage to stage.
    The last summary, None when no label ever came."""
    feed, arrays = LabelFeed(client, options.experiment_id), ArrayCache(client, options.experiment_id)
    labels: list[dict[str, Any]] = []
    trainer: Trainer | None = None
    points: list[CurvePoint] = []
    summary: dict[str, Any] | None = None
    trained_on, ending = 0, False
    while True:
        labels += feed.read_all()
        untrained = len(labels) - trained_on
        if labels and (untrained >= (min_new if trainer else 1) or (ending and untrained)):
            dataset = build(labels, arrays, spec=trainer.model.spec if trainer else None,
                            action_classes=options.action_classes)
            train, holdout = split(dataset, options.holdout, options.train.seed)
            if len(train):
                trainer = trainer or Trainer(dataset.segments.spec, options.model, options.train)
                points.append(curve.stage(trainer, dataset.segments, train, holdout))
                summary = write(options, trainer, dataset, train, holdout, points, feed.cursor, log)
                trained_on = len(labels)
                log(f"{len(train)} labels: held-out agreement {points[-1].holdout_agreement}")
        if ending or (max_labels is not None and trained_on >= max_labels):
            return summary
        new = feed.read(wait=wait)
        labels += new
        ending = not new and closed is not None and closed()  # one last stage on what is left, then stop
