"""Playcorder exporter: dataset builds as background jobs, shared through presigned links."""
