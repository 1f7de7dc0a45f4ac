"""`playcorder bot`: a participant with a random policy, playing over the browser's WebSocket protocol."""

from __future__ import annotations

from typing import Annotated

import typer

from .errors import UserError
from .gateway import connect
from .options import Study
from .output import print_json

TIMEOUT = 60.0  # seconds without a message from the gateway before the bot gives up


def bot(
    ctx: typer.Context, study: Study,
    env: Annotated[str, typer.Option(metavar="ENV", help="environment key in the study, or its Gymnasium id")],
    episodes: Annotated[int, typer.Option(metavar="N", help="episodes to play")] = 1,
    max_steps: Annotated[int | None, typer.Option(
        metavar="N", help="end (and save) each episode after this many actions (a realtime env may tick once or "
                          "twice more before the end reaches it)")] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="seed of the random policy")] = None,
) -> None:
    """Play episodes with a random policy, as a browser would.

    The bot joins as a new participant and talks the browser's WebSocket protocol; it prints a summary.
    """
    import asyncio

    from websockets.exceptions import WebSocketException

    from ..sdk.bot import BotError, play

    client = connect(ctx)
    participant = client.create_participant(study, external_id="bot")
    try:
        summary = asyncio.run(play(client.url, participant["token"], env, episodes, max_steps, seed, TIMEOUT))
    except (BotError, WebSocketException) as err:
        raise UserError(f"the bot stopped: {err}") from None
    except TimeoutError:
        raise UserError(f"Expected a message from the gateway within {TIMEOUT:g} s, got none") from None
    print_json(summary.to_dict() | {"study_id": study, "env": env, "participant_id": participant["participant_id"]})
