"""Run the exporter: `python -m playcorder_exporter` (settings from the environment)."""

from playcorder.service import serve

from .app import create_app
from .settings import Settings


def main() -> None:
    settings = Settings()
    serve("exporter", create_app, settings, settings.host, settings.port)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
