"""How to store image observations losslessly: zstd over a chunk of consecutive frames (what records.py does)
against PNG per frame, on real Pong and coinrun observations. Size per step, encode and decode time per step.

Usage: .venv/bin/python bench/observation_codecs.py   (no servers needed)
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
import zstandard
from PIL import Image

from playcorder.specs import EnvironmentSpec
from playcorder_env_worker.families import make_env

CHUNK = 64


def observations(env_id: str, n: int = 256, **spec: object) -> list[np.ndarray]:
    prepared = make_env(EnvironmentSpec(id="bench", env_id=env_id, **spec))  # type: ignore[arg-type]
    env = prepared.env
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    out = [obs]
    for _ in range(n - 1):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        out.append(obs)
        if terminated or truncated:
            obs, _ = env.reset()
    prepared.close()
    return out


def zstd(frames: list[np.ndarray], level: int) -> dict[str, float]:
    t = time.perf_counter()
    chunks = [zstandard.ZstdCompressor(level=level).compress(b"".join(f.tobytes() for f in frames[i:i + CHUNK]))
              for i in range(0, len(frames), CHUNK)]
    encode = time.perf_counter() - t
    t = time.perf_counter()
    for c in chunks:
        zstandard.ZstdDecompressor().decompress(c)
    decode = time.perf_counter() - t
    return {"kb_per_step": sum(map(len, chunks)) / len(frames) / 1024, "encode_ms": encode / len(frames) * 1e3,
            "decode_ms": decode / len(frames) * 1e3}


def png(frames: list[np.ndarray], level: int) -> dict[str, float]:
    t = time.perf_counter()
    blobs = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="PNG", compress_level=level)
        blobs.append(buf.getvalue())
    encode = time.perf_counter() - t
    t = time.perf_counter()
    for b in blobs:
        np.asarray(Image.open(io.BytesIO(b)))
    decode = time.perf_counter() - t
    return {"kb_per_step": sum(map(len, blobs)) / len(frames) / 1024, "encode_ms": encode / len(frames) * 1e3,
            "decode_ms": decode / len(frames) * 1e3}


def main() -> None:
    for name, frames in (("pong", observations("ALE/Pong-v5")),
                         ("coinrun", observations("procgen/coinrun", kwargs={"distribution_mode": "easy"}))):
        raw = frames[0].nbytes / 1024
        for codec, fn, level in (("zstd", zstd, 1), ("zstd", zstd, 3), ("zstd", zstd, 9), ("png", png, 1),
                                 ("png", png, 6)):
            result = {k: round(v, 3) for k, v in fn(frames, level).items()}
            print(json.dumps({"obs": name, "shape": list(frames[0].shape), "raw_kb": round(raw, 1),
                              "codec": f"{codec}-{level}", **result}))


if __name__ == "__main__":
    main()
