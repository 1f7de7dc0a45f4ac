"""Run the gateway: `python -m playcorder_gateway` (settings from the environment)."""

from playcorder.service import serve

from . import redact
from .app import create_app
from .settings import Settings


def main() -> None:
    redact.install()  # before anything logs: uvicorn's access lines would print ?token=
    settings = Settings()
    serve("gateway", create_app, settings, settings.host, settings.port,  # type: ignore[arg-type]
          notsent_lowat=settings.ws_notsent_lowat, ws_max_size=settings.ws_max_size,
          forwarded_allow_ips=settings.forwarded_allow_ips)


if __name__ == "__main__":
    main()
