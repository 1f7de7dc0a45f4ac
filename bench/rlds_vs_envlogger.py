"""Export speed of three writers on the same recorded Pong episodes: (a) Playcorder's RLDSWriter (TFDS layout,
no TensorFlow), (b) envlogger's TFDSBackendWriter (RLDS through tfds' SequentialWriter, TensorFlow) and (c)
Playcorder's EnvloggerWriter (envlogger's Riegeli backend; its zstd:3 options, then envlogger's default brotli:6).

Episodes (real ALE Pong, random actions, 210x160x3 uint8 observations, Discrete(6) actions, the rendered frame
as a quality-80 JPEG per step) are generated once, up front, untimed; each writer then writes all of them, with
the JPEG as step `image`, into its own directory under --out (a temporary one by default). Timed: converting the
steps, writing, close(). One JSON line per writer with steps per second.

With --processes N (default 2) a fifth writer, playcorder_rlds_sharded, writes the same episodes as N contiguous
shards, one forked process each (what a sharded export with EXPORTER_PROCESSES=N does per shard task, without the
stack's S3 download/upload and the final dataset_info merge); `ratio_to_envlogger` is each writer's steps/s over
envlogger_tfds_backend's. Measured in wall time: on a busy shared machine, repeat and compare ranges.

Usage:  .venv/bin/python bench/rlds_vs_envlogger.py --episodes 10 --steps 1000 --repeat 5 --json out.json
        .venv/bin/python bench/rlds_vs_envlogger.py --quick --json out.json   (2 episodes of 300 steps, 1 run)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gymnasium as gym
import numpy as np
import simplejpeg

from playcorder.gym_spaces import space_spec
from playcorder.records import Step
from playcorder.spaces import zeros
from playcorder_exporter.datasets.formats.base import DatasetConfig, EpisodeMeta
from playcorder_exporter.datasets.formats.envlogger_format import (
    WRITER_OPTIONS,
    EnvloggerWriter,
    load_envlogger,
)
from playcorder_exporter.datasets.formats.rlds_format import EPISODE_METADATA  # as the RLDS export writes
from playcorder_exporter.datasets.rlds_writer import RLDSWriter

NAME = "pong_bench"
Episode = tuple[EpisodeMeta, list[Step]]


def pong_episodes(episodes: int, steps: int, seed: int) -> tuple[DatasetConfig, list[Episode]]:
    """RLDS-aligned episodes of at most `steps` steps (the final observation included), truncated there."""
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make("ALE/Pong-v5", render_mode="rgb_array")
    obs_spec, act_spec = space_spec(env.observation_space), space_spec(env.action_space)
    config = DatasetConfig(name=NAME, version="1.0.0", observation_spec=obs_spec, action_spec=act_spec,
                           keep_metadata=True, description="Pong, random actions")
    env.action_space.seed(seed)
    out = []
    for e in range(episodes):
        obs, info = env.reset(seed=seed + e)
        image = simplejpeg.encode_jpeg(env.render(), quality=80)
        rlds: list[Step] = []
        terminated = False
        while len(rlds) < steps - 1 and not terminated:
            action = np.int64(env.action_space.sample())
            next_obs, reward, terminated, truncated, next_info = env.step(action)
            rlds.append(Step(len(rlds), obs, action, float(reward), 1.0, not rlds, False, False, time.time(),
                             image=image, input={"keys": ["Up"]}, info={"lives": int(info.get("lives", 0))}))
            obs, info, image = next_obs, next_info, simplejpeg.encode_jpeg(env.render(), quality=80)
            terminated = terminated or truncated
        rlds.append(Step(len(rlds), obs, zeros(act_spec), 0.0, 0.0 if terminated else 1.0, not rlds, True,
                         terminated, time.time(), image=image, info={"lives": int(info.get("lives", 0))}))
        meta = EpisodeMeta(episode_id=f"ep{e}", episode_index=e, agent_id="agent", study_id="bench",
                           environment="pong", env_id="ALE/Pong-v5", state="completed", seed=seed + e,
                           num_steps=len(rlds), total_reward=sum(s.reward for s in rlds))
        out.append((meta, rlds))
    env.close()
    return config, out


def _metadata(meta: EpisodeMeta) -> dict[str, Any]:
    return {k: getattr(meta, k) for k in EPISODE_METADATA}


def write_rlds(directory: Path, config: DatasetConfig, episodes: list[Episode]) -> dict[str, Any]:
    writer = RLDSWriter(directory, name=NAME, observation_spec=config.observation_spec,
                        action_spec=config.action_spec, episode_metadata=EPISODE_METADATA, step_image=True)

    def steps(rlds: list[Step]) -> Iterator[dict[str, Any]]:
        for s in rlds:
            yield {"observation": s.observation, "action": s.action, "reward": s.reward, "discount": s.discount,
                   "is_first": s.is_first, "is_last": s.is_last, "is_terminal": s.is_terminal, "image": s.image}

    with writer:
        for meta, rlds in episodes:
            writer.add_episode(steps(rlds), _metadata(meta))
    return writer.close()


_SHARDED: list[Episode] = []  # the episodes the forked shard writers inherit (forked, not pickled)


def _write_shard(args: tuple[Path, int, int]) -> int:
    directory, start, stop = args
    return int(write_rlds(directory, _CONFIG[0], _SHARDED[start:stop])["steps"])


_CONFIG: list[DatasetConfig] = []


def sharded_rlds(processes: int) -> Callable[[Path, DatasetConfig, list[Episode]], dict[str, Any]]:
    """Contiguous runs of episodes, one per process, each an RLDSWriter of its own (as one shard task is)."""
    import multiprocessing

    def write(directory: Path, config: DatasetConfig, episodes: list[Episode]) -> dict[str, Any]:
        _SHARDED[:], _CONFIG[:] = episodes, [config]
        n = min(processes, len(episodes))
        bounds = [round(k * len(episodes) / n) for k in range(n + 1)]
        tasks = [(directory / f"shard-{k}", bounds[k], bounds[k + 1]) for k in range(n)]
        with multiprocessing.get_context("fork").Pool(n) as pool:
            steps = sum(pool.map(_write_shard, tasks))
        return {"steps": steps}

    return write


def write_tfds_backend(directory: Path, config: DatasetConfig, episodes: list[Episode]) -> dict[str, Any]:
    """envlogger's TFDS backend takes envlogger (dm_env) steps and turns them back into RLDS itself."""
    import dm_env
    import tensorflow_datasets as tfds
    from envlogger.backends import tfds_backend_writer

    from playcorder_exporter.datasets import rlds_features as rf

    ds_config = tfds.rlds.rlds_base.DatasetConfig(
        name=NAME, observation_info=rf.feature_for(config.observation_spec),
        # float64: envlogger fills the last step's reward and discount with np.zeros_like(python float).
        action_info=rf.feature_for(config.action_spec), reward_info=tfds.features.Scalar(dtype=np.float64),
        discount_info=tfds.features.Scalar(dtype=np.float64),
        step_metadata_info={"image": tfds.features.Image(encoding_format="jpeg")},
        episode_metadata_info={k: rf.metadata_feature(kind) for k, kind in EPISODE_METADATA.items()},
    )
    directory.mkdir(parents=True)
    writer = tfds_backend_writer.TFDSBackendWriter(str(directory), ds_config, split_name="train", version="1.0.0")
    step_data = load_envlogger().StepData
    n = 0
    for meta, rlds in episodes:
        for k, s in enumerate(rlds):
            if k == 0:
                timestep, action = dm_env.restart(s.observation), None
            else:
                p = rlds[k - 1]
                kind = dm_env.StepType.LAST if s.is_last else dm_env.StepType.MID
                timestep = dm_env.TimeStep(kind, p.reward, 0.0 if s.is_terminal else p.discount, s.observation)
                action = p.action
            writer.record_step(step_data(timestep, action, {"image": s.image}), is_new_episode=k == 0)
        writer.set_episode_metadata(_metadata(meta))
        n += len(rlds)
    writer.close()
    return {"episodes": len(episodes), "steps": n}


def write_envlogger(directory: Path, config: DatasetConfig, episodes: list[Episode],
                    writer_options: str = WRITER_OPTIONS) -> dict[str, Any]:
    writer = EnvloggerWriter(directory, config, writer_options=writer_options)
    for meta, rlds in episodes:
        writer.add_episode(meta, iter(rlds), "train")
    return writer.close()


def write_envlogger_brotli(directory: Path, config: DatasetConfig, episodes: list[Episode]) -> dict[str, Any]:
    """With envlogger's own default Riegeli options, for comparison."""
    return write_envlogger(directory, config, episodes, "transpose,brotli:6,chunk_size:1M")


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def run(out: Path, config: DatasetConfig, episodes: list[Episode],
        writers: dict[str, Callable[[Path, DatasetConfig, list[Episode]], dict[str, Any]]],
        repeat: int) -> list[dict[str, Any]]:
    """Each writer `repeat` times, round robin, so that a busy moment of a shared machine hits them alike;
    the median run is reported, with the range."""
    total = sum(len(s) for _, s in episodes)
    times: dict[str, list[float]] = {name: [] for name in writers}
    sizes: dict[str, float] = {}
    for r in range(repeat):
        for name, write in writers.items():
            directory = out / f"{name}-{r}"
            t0 = time.perf_counter()
            try:
                summary = write(directory, config, episodes)
            except Exception as err:  # report and go on: one writer failing must not hide the others' numbers
                print(json.dumps({"writer": name, "error": f"{type(err).__name__}: {err}"}), flush=True)
                continue
            times[name].append(time.perf_counter() - t0)
            if summary["steps"] != total:
                raise SystemExit(f"error: expected {name} to write {total} steps, it says {summary['steps']}")
            sizes[name] = _size(directory) / 2**20
            shutil.rmtree(directory)
    results = []
    for name, runs in times.items():
        if runs:
            rates = sorted(total / t for t in runs)
            results.append({"writer": name, "episodes": len(episodes), "steps": total, "runs": len(runs),
                            "steps_per_s": round(statistics.median(rates)),
                            "range": [round(rates[0]), round(rates[-1])], "mb": round(sizes[name], 2)})
    envlogger = next((r["steps_per_s"] for r in results if r["writer"] == "envlogger_tfds_backend"), None)
    for r in results:
        if envlogger:
            r["ratio_to_envlogger"] = round(r["steps_per_s"] / envlogger, 2)
        print(json.dumps(r), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000, help="steps per episode, the final observation included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="directory for the datasets (default: a temporary one, removed)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per writer (median reported)")
    parser.add_argument("--processes", type=int, default=2, help="processes of the sharded RLDS writer (1: none)")
    parser.add_argument("--quick", action="store_true", help="2 episodes of 300 steps, one run per writer")
    parser.add_argument("--json", type=Path, help="also write the results as one JSON object to this path")
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.steps, args.repeat = 2, 300, 1
    # Imported before timing: TensorFlow's import cost is not the writers'.
    import tensorflow_datasets as tfds  # noqa: F401

    load_envlogger()  # envlogger 1.2 needs np.unicode_ under numpy 2, set before its import
    from envlogger.backends import tfds_backend_writer  # noqa: F401

    t0 = time.perf_counter()
    config, episodes = pong_episodes(args.episodes, args.steps, args.seed)
    generated = {"episodes": len(episodes), "steps": sum(len(s) for _, s in episodes),
                 "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps({"generated": generated}), flush=True)
    writers = {"playcorder_rlds": write_rlds, "envlogger_tfds_backend": write_tfds_backend,
               "playcorder_envlogger_riegeli": write_envlogger,
               "playcorder_envlogger_riegeli_brotli6": write_envlogger_brotli}
    if args.processes > 1:
        writers["playcorder_rlds_sharded"] = sharded_rlds(args.processes)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        results = run(args.out, config, episodes, writers, args.repeat)
    else:
        with tempfile.TemporaryDirectory(prefix="rlds-vs-envlogger-") as tmp:
            results = run(Path(tmp), config, episodes, writers, args.repeat)
    if args.json:
        args.json.write_text(json.dumps({"name": "rlds_vs_envlogger", "quick": args.quick, "processes": args.processes,
                                         "cpus": os.cpu_count(), "generated": generated, "writers": results,
                                         "speedup_vs_envlogger": _ratio(results, "playcorder_rlds_sharded"),
                                         "speedup_single_vs_envlogger": _ratio(results, "playcorder_rlds")},
                                        indent=2))


def _ratio(results: list[dict[str, Any]], writer: str) -> float | None:
    return next((r.get("ratio_to_envlogger") for r in results if r["writer"] == writer), None)


if __name__ == "__main__":
    main()
