"""Python SDK: the REST client, the bot that plays over the browser's WebSocket protocol, and credentials."""

from .client import ApiError, Client, FieldError
from .config import load_credentials, save_credentials

__all__ = ["ApiError", "Client", "FieldError", "load_credentials", "save_credentials"]
