"""Playcorder gateway: the REST API and the play WebSockets."""
