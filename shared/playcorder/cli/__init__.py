"""`playcorder`: the command-line tool for designers and operators (talks to the gateway; `dev` runs a local stack).

One module per command group; the SDK, httpx, yaml and rich are imported inside the commands, so that `--help`
starts fast.
"""

from .app import main

__all__ = ["main"]
