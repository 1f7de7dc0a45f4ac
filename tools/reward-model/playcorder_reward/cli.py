"""`playcorder-reward`: train a reward model on a preference experiment's labels (`train`), or keep training as
they arrive (`follow`). The gateway and designer token come from --url/--token, else $PLAYCORDER_URL /
$PLAYCORDER_TOKEN, else the credentials the playcorder CLI stored."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, cast

from .config import ModelConfig, TrainConfig
from .runs import RunOptions, follow, train_once


def _hidden(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(h) for h in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"Expected layer sizes like 64,64, got {text!r}") from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="gateway URL (default: $PLAYCORDER_URL or the stored default)")
    parser.add_argument("--token", help="designer token (default: $PLAYCORDER_TOKEN or the stored token)")
    parser.add_argument("--experiment", required=True, metavar="ID", help="preference experiment id")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder for model.pt, curve.json, curve.png and summary.json")
    parser.add_argument("--members", type=int, default=3, help="ensemble members (default 3)")
    parser.add_argument("--hidden", type=_hidden, default=(64, 64), help="hidden layer sizes (default 64,64)")
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--no-normalise", action="store_true", help="feed raw features (default: standardise)")
    parser.add_argument("--action-classes", type=int, metavar="N",
                        help="actions are integer ids of N classes (encoded one-hot)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per stage of the curve (default 30)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--noise-prob", type=float, default=0.0, help="imitation's labeller noise (default 0)")
    parser.add_argument("--holdout", type=float, default=0.2, help="share of pairs held out (default 0.2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="playcorder-reward", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train on every label there is now, then exit")
    _common(train)
    train.add_argument("--curve-points", type=int, default=5, help="points of the training curve (default 5)")
    follower = commands.add_parser("follow", help="train a stage whenever enough new labels arrive (long-poll)")
    _common(follower)
    follower.add_argument("--wait", type=float, default=30.0, help="long-poll seconds (0..30, default 30)")
    follower.add_argument("--min-new", type=int, default=10, help="new labels that trigger a stage (default 10)")
    follower.add_argument("--max-labels", type=int, help="stop once this many labels are used")
    return root


def options(args: argparse.Namespace) -> RunOptions:
    model = ModelConfig(members=args.members, hidden=args.hidden, dropout=args.dropout,
                        normalise=not args.no_normalise)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                        noise_prob=args.noise_prob, seed=args.seed)
    return RunOptions(args.experiment, args.out, model, train, args.holdout, getattr(args, "curve_points", 5),
                      args.action_classes)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    from playcorder.sdk import Client, load_credentials

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    opts = options(args)
    url, token = load_credentials(args.url, args.token)
    if not token:
        raise ValueError(f"Expected a designer token for {url}, got none: pass --token or set PLAYCORDER_TOKEN")
    client = cast(Any, Client(url, token))  # the preference methods are issue 15's contract
    if args.command == "train":
        return train_once(client, opts, _log)

    def closed() -> bool:
        return bool(client.preference_experiment(opts.experiment_id)["closed"])

    return follow(client, opts, _log, wait=args.wait, min_new=args.min_new, max_labels=args.max_labels,
                  closed=closed)


def main(argv: list[str] | None = None) -> None:
    from playcorder.sdk import ApiError

    args = parser().parse_args(argv)
    try:
        summary = run(args)
    except (ValueError, ApiError) as error:
        _log(f"playcorder-reward: {error}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        _log(f"playcorder-reward: interrupted; the last stage's files are in {args.out}")
        raise SystemExit(130) from None
    print(json.dumps(summary, indent=2))
