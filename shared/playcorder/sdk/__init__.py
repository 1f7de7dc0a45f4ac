"""Python SDK: the REST client, the bot that plays over the browser's WebSocket protocol, and credentials."""

from .client import ApiError, Client, FieldError, Page
from .config import load_credentials, save_credentials
from .episodes import Episodes

__all__ = ["ApiError", "Client", "Episodes", "FieldError", "Page", "load_credentials", "save_credentials"]
