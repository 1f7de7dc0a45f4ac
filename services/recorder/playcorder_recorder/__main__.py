"""Run the recorder: `python -m playcorder_recorder` (settings from the environment)."""

from playcorder.service import serve

from .app import create_app
from .settings import Settings


def main() -> None:
    settings = Settings()
    serve("recorder", create_app, settings, settings.host, settings.port)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
