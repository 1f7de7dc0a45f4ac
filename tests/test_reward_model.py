"""The preference reward-model trainer (tools/reward-model, issue 15) on synthetic segments of a known reward:
HalfCheetah's forward velocity minus its control cost on random observations and actions. Labelled by the
synthetic labeller, the ensemble must order unseen segments' pairs as the true reward does; ties as soft labels,
active selection, RL-Teacher's annealer, export and bad input as a user meets them. No servers: numpy and torch
on the CPU, one thread (the suite's machine has 2 busy cores)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from playcorder_reward import (
    FeatureSpec,
    LabelAnnealer,
    ModelConfig,
    Preferences,
    SegmentSet,
    TrainConfig,
    Trainer,
    disagreement,
    evaluate,
    fit,
    load,
    random_pairs,
    respond,
    select_pairs,
    synthetic_preferences,
    training_curve,
)
from playcorder_reward.curve import curve_json, plot, write_json
from playcorder_reward.data import build, holdout_mask

OBS, ACT, STEPS = 17, 6, 20  # HalfCheetah-v5's observation and action sizes; 1 s of 20 Hz control
VELOCITY = 8  # observation index of the forward velocity (qpos[1:] has 8 entries, then qvel[0])


def cheetah_segments(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observations, actions, true returns): reward = forward velocity - 0.1 * |action|^2 per step."""
    rng = np.random.default_rng(seed)
    observations = rng.normal(size=(n, STEPS, OBS)).astype(np.float32)
    observations[:, :, VELOCITY] += rng.normal(size=(n, 1))  # some segments run forward, some back
    actions = rng.uniform(-1, 1, size=(n, STEPS, ACT)).astype(np.float32)
    rewards = observations[:, :, VELOCITY] - 0.1 * (actions**2).sum(axis=-1)
    return observations, actions, rewards.sum(axis=1)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data() -> tuple[SegmentSet, np.ndarray, np.ndarray, np.ndarray]:
    """500 segments: pairs among the first 300 train, pairs among the other 200 (never trained on) are held out."""
    observations, actions, true = cheetah_segments(500, seed=1)
    segments = SegmentSet.from_arrays(list(observations), list(actions))
    train_pairs = random_pairs(300, 600, seed=2)
    held_pairs = 300 + random_pairs(200, 300, seed=3)
    return segments, true, train_pairs, held_pairs


@pytest.fixture(scope="module")
def trained(data: tuple[SegmentSet, np.ndarray, np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory,
            ) -> tuple[Trainer, list, float]:
    segments, true, train_pairs, held_pairs = data
    trainer = Trainer(segments.spec, ModelConfig(), TrainConfig(epochs=10, seed=0))
    started = time.perf_counter()
    points = training_curve(trainer, segments, synthetic_preferences(true, train_pairs),
                            synthetic_preferences(true, held_pairs), points=3)
    seconds = time.perf_counter() - started
    print(f"\nheld-out agreement {points[-1].holdout_agreement:.3f} after {seconds:.1f} s: "
          f"{[(p.labels, p.holdout_agreement) for p in points]}")
    return trainer, points, seconds


def test_the_ensemble_orders_unseen_segments_as_the_true_reward(trained: tuple[Trainer, list, float],
                                                                 tmp_path: Path) -> None:
    trainer, points, seconds = trained
    assert [p.labels for p in points] == [200, 400, 600]
    assert points[-1].holdout_agreement >= 0.9, points
    assert points[-1].holdout_agreement >= points[0].holdout_agreement  # more labels, no worse
    assert points[-1].train_loss < math.log(2)  # below a coin's cross-entropy
    assert len(trainer.model.ensemble.members) == 3
    # the curve as the CLI writes it: JSON and a PNG
    write_json(tmp_path / "curve.json", curve_json(points, experiment="x"))
    written = json.loads((tmp_path / "curve.json").read_text())
    assert [p["labels"] for p in written["points"]] == [200, 400, 600]
    assert written["points"][-1]["holdout_agreement"] == points[-1].holdout_agreement
    png = plot(points, tmp_path / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_ties_as_soft_labels_train_and_cant_tell_is_dropped(data: tuple[SegmentSet, np.ndarray, np.ndarray,
                                                                        np.ndarray]) -> None:
    segments, true, train_pairs, held_pairs = data
    tolerance = float(np.quantile(np.abs(true[train_pairs[:, 0]] - true[train_pairs[:, 1]]), 0.3))
    labels = synthetic_preferences(true, train_pairs, tolerance=tolerance)
    ties = float(np.mean(labels.label == 0.5))
    assert 0.25 <= ties <= 0.35  # about 30 % of the pairs are ties
    model = fit(segments, labels, config=TrainConfig(epochs=10))
    held = evaluate(model, segments, synthetic_preferences(true, held_pairs))
    assert math.isfinite(held.loss) and held.agreement is not None and held.agreement >= 0.9, held
    # a tie between a segment and itself asks for a zero difference: the loss is a coin's and stays finite
    same = Preferences.of(np.arange(50), np.arange(50), np.full(50, 0.5))
    assert evaluate(model, segments, same).loss == pytest.approx(math.log(2))
    parsed = Preferences.from_responses([0, 1, 2, 3], [4, 5, 6, 7], ["left", "cant_tell", "tie", "right"])
    assert parsed.left.tolist() == [0, 2, 3] and parsed.label.tolist() == [1.0, 0.5, 0.0]


def test_active_selection_picks_the_pairs_the_ensemble_disputes(data: tuple[SegmentSet, np.ndarray, np.ndarray,
                                                                            np.ndarray]) -> None:
    segments, true, train_pairs, _ = data
    model = fit(segments, synthetic_preferences(true, train_pairs[:60]), config=TrainConfig(epochs=10, seed=4))
    candidates = random_pairs(len(segments), 1000, seed=5)
    random = np.random.default_rng(6).choice(len(candidates), 50, replace=False)
    for measure in ("probability", "return"):
        chosen = select_pairs(model, segments, candidates, 50, measure)
        scores = disagreement(model, segments, candidates, measure)
        print(f"\n{measure}: selected {scores[chosen].mean():.4f}, random {scores[random].mean():.4f}")
        assert scores[chosen].mean() > 1.5 * scores[random].mean(), measure
        assert len(set(chosen.tolist())) == 50
        assert np.all(np.diff(scores[chosen]) <= 0)  # most disputed first
        assert scores[chosen].min() >= np.delete(scores, chosen).max()


def test_random_pairs_never_pair_a_segment_with_itself() -> None:
    pairs = random_pairs(3, 500, seed=0)
    assert np.all(pairs[:, 0] != pairs[:, 1]) and pairs.min() == 0 and pairs.max() == 2


def test_the_synthetic_labeller_and_rl_teachers_annealer() -> None:
    assert respond(2.0, 1.0) == "left" and respond(1.0, 2.0) == "right"
    assert respond(1.0, 1.05, tolerance=0.1) == "tie" and respond(1.0, 1.05) == "right"
    labels = synthetic_preferences(np.array([0.0, 1.0, 1.0]), np.array([[0, 1], [1, 0], [1, 2]]))
    assert labels.label.tolist() == [0.0, 1.0, 0.5]
    annealer = LabelAnnealer(final_timesteps=1e6, final_labels=1400, pretrain_labels=175)
    p = 175 / 1400

    def rl_teacher(t: float) -> float:  # rl_teacher/label_schedules.py, LabelAnnealer.n_desired_labels
        return (p + (1 - p) * (1 - 0.01 ** (t / 1e6))) * 1400

    assert annealer.n_desired_labels(0) == pytest.approx(175)
    assert annealer.n_desired_labels(1e6) == pytest.approx(1400 * (p + (1 - p) * 0.99))
    for t in (0, 1e3, 2.5e5, 5e5, 1e6, 2e6):
        assert annealer.n_desired_labels(t) == pytest.approx(rl_teacher(t))
    with pytest.raises(ValueError, match="Expected 0 <= pretrain_labels <= final_labels"):
        LabelAnnealer(1e6, final_labels=100, pretrain_labels=200)


def test_the_saved_model_predicts_exactly_the_same(trained: tuple[Trainer, list, float],
                                                   data: tuple[SegmentSet, np.ndarray, np.ndarray, np.ndarray],
                                                   tmp_path: Path) -> None:
    trainer, _, _ = trained
    segments = data[0]
    path = trainer.model.save(tmp_path / "model.pt")
    loaded = load(path)
    observations, actions, _ = cheetah_segments(3, seed=9)
    for observation, action in zip(observations, actions, strict=True):
        assert np.array_equal(loaded.member_rewards(observation, action),
                              trainer.model.member_rewards(observation, action))
        assert loaded.rewards(observation, action).shape == (STEPS,)
    assert np.array_equal(loaded.returns(segments), trainer.model.returns(segments))
    assert loaded.config == trainer.model.config and loaded.spec == trainer.model.spec
    assert torch.equal(loaded.ensemble.mean, trainer.model.ensemble.mean)
    (tmp_path / "other.pt").write_bytes(b"")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="Expected a playcorder-reward/1 model file"):
        load(tmp_path / "other.pt")


def test_the_same_seed_trains_the_same_model_and_leaves_torchs_random_state(
        data: tuple[SegmentSet, np.ndarray, np.ndarray, np.ndarray]) -> None:
    segments, true, train_pairs, _ = data
    labels = synthetic_preferences(true, train_pairs[:100])
    state = torch.get_rng_state()
    one, two = (fit(segments, labels, ModelConfig(members=2), TrainConfig(epochs=3, seed=7)) for _ in range(2))
    other = fit(segments, labels, ModelConfig(members=2), TrainConfig(epochs=3, seed=8))
    assert np.array_equal(one.returns(segments), two.returns(segments))
    assert not np.array_equal(one.returns(segments), other.returns(segments))
    assert torch.equal(torch.get_rng_state(), state)


def test_bad_input_names_what_was_expected_and_what_came(trained: tuple[Trainer, list, float],
                                                         data: tuple[SegmentSet, np.ndarray, np.ndarray,
                                                                     np.ndarray]) -> None:
    model, segments = trained[0].model, data[0]
    observations, actions, _ = cheetah_segments(2, seed=0)
    with pytest.raises(ValueError, match=r"Expected observation of shape \(T, 17\), got \(20, 5\)"):
        model.rewards(observations[0][:, :5], actions[0])
    with pytest.raises(ValueError, match=r"Segment 1: Expected action of shape \(T, 6\), got \(20, 2\)"):
        SegmentSet.from_arrays(list(observations), [actions[0], actions[1][:, :2]])
    with pytest.raises(ValueError, match=r"Expected as many actions as observations \(20\), got 19"):
        model.rewards(observations[0], actions[0][:19])
    with pytest.raises(ValueError, match="Expected at least one preference label .*, got 0"):
        fit(segments, Preferences.of([], [], []))
    with pytest.raises(ValueError, match=r"Expected segment indices in \[0, 500\), got values from 0 to 500"):
        fit(segments, Preferences.of([0], [500], [1.0]))
    with pytest.raises(ValueError, match=r"Expected left, right and label of one shape \(N,\)"):
        Preferences.of([0, 1], [2], [1.0])
    with pytest.raises(ValueError, match="Expected responses among .*, got \\['maybe'\\]"):
        Preferences.from_responses([0], [1], ["maybe"])
    with pytest.raises(ValueError, match=r"Expected candidate pairs of shape \(M, 2\), got \(4,\)"):
        select_pairs(model, segments, np.arange(4), 2)
    with pytest.raises(ValueError, match="Expected segments with the model's features"):
        model.returns(SegmentSet.from_arrays([observations[0][:, :5]], [actions[0]]))


def test_discrete_actions_are_one_hot() -> None:
    spec = FeatureSpec((3,), (), action_classes=4)
    features = spec.step_features(np.zeros((2, 3)), np.array([1, 3]))
    assert features.shape == (2, 7) and features[:, 3:].tolist() == [[0, 1, 0, 0], [0, 0, 0, 1]]
    with pytest.raises(ValueError, match=r"Expected integer actions in \[0, 4\), got values from 1 to 4"):
        spec.step_features(np.zeros((2, 3)), np.array([1, 4]))


def test_labels_from_the_api_become_training_data() -> None:
    """data.build on the contract's Label dicts and segment arrays, as the SDK returns them."""
    observations, actions, true = cheetah_segments(3, seed=0)
    arrays = {f"s{i}": {"observation": observations[i], "action": actions[i],
                        "reward": observations[i][:, VELOCITY] - 0.1 * (actions[i] ** 2).sum(-1)} for i in range(3)}
    labels = [{"seq": 1, "pair_id": "p1", "left": "s0", "right": "s1", "response": "left"},
              {"seq": 2, "pair_id": "p2", "left": "s1", "right": "s2", "response": "cant_tell"},
              {"seq": 3, "pair_id": "p3", "left": "s2", "right": "s0", "response": "tie"}]
    dataset = build(labels, arrays.__getitem__)
    assert dataset.segment_ids == ["s0", "s1", "s2"] and dataset.cant_tell == 1
    assert dataset.pair_ids == ["p1", "p3"] and dataset.preferences.label.tolist() == [1.0, 0.5]
    assert dataset.preferences.left.tolist() == [0, 2] and dataset.preferences.right.tolist() == [1, 0]
    assert dataset.true_returns is not None and np.allclose(dataset.true_returns, true, atol=1e-4)
    with pytest.raises(ValueError, match="Expected segment s0's arrays to hold 'observation' and 'action'"):
        build(labels[:1], lambda segment_id: {"reward": np.zeros(3)})
    with pytest.raises(ValueError, match="Expected at least one label answered left, right or tie, got 1 labels, "
                                         "all cant_tell"):
        build(labels[1:2], arrays.__getitem__)
    held = holdout_mask([f"p{i}" for i in range(2000)], 0.2, seed=0)
    assert 0.17 < held.mean() < 0.23
    assert np.array_equal(held[:100], holdout_mask([f"p{i}" for i in range(100)], 0.2, seed=0))  # stable
