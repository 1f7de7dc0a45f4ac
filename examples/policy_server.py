"""An external policy for multi-agent play: a process that answers a study's NATS policy (kind: nats) with actions.

A seat's policy `{kind: nats, subject: invaders, deadline_ms: 100}` makes the env-worker ask, for each step,
`<NATS_SUBJECT_PREFIX>.policies.invaders` (prefix 'pc' by default) with JSON {"game_id", "agent", "step",
"observation"} (the observation as nested lists); the answer is JSON {"action": ...}, a value of the agent's
action space. An answer later than the deadline is not used (the agent repeats its previous action, recorded as
late). Replicas share the requests (one queue group). Replace `choose` with a trained model.

    NATS_URL=nats://user:password@host:4222 python examples/policy_server.py --subject invaders --actions 6
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from typing import Any

import nats
import numpy as np
from nats.aio.msg import Msg


def choose(request: dict[str, Any], actions: int) -> Any:
    """A stand-in for a model: an action from the observation's mean brightness, the same for the same frame."""
    observation = np.asarray(request["observation"], dtype=np.float64)
    return int(observation.mean()) % actions if observation.size else 0


async def serve(url: str, subject: str, actions: int) -> None:
    nc = await nats.connect(url, name="policy-server")
    loop = asyncio.get_running_loop()

    async def answer(msg: Msg) -> None:
        request = await loop.run_in_executor(None, json.loads, msg.data)  # an Atari frame is ~0.5 MB of JSON
        await msg.respond(json.dumps({"action": choose(request, actions)}).encode())

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await nc.subscribe(subject, queue="policy-server", cb=answer)
    await nc.flush()
    print(f"answering on {subject}", flush=True)
    await stop.wait()
    await nc.drain()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subject", required=True, help="the policy's subject in the study spec, e.g. invaders")
    parser.add_argument("--actions", type=int, required=True, help="the agent's number of (Discrete) actions")
    parser.add_argument("--prefix", default=os.environ.get("NATS_SUBJECT_PREFIX", "pc"),
                        help="the stack's NATS_SUBJECT_PREFIX (default: $NATS_SUBJECT_PREFIX or 'pc')")
    args = parser.parse_args()
    url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    asyncio.run(serve(url, f"{args.prefix}.policies.{args.subject}", args.actions))


if __name__ == "__main__":
    main()
