"""The gateway's own Prometheus metrics (its HTTP and WebSocket counts are playcorder.metrics'): what the play and
watch sockets relay, and what the clients miss of it. No session or participant labels: a series per session would
grow without bound; a running session is found in the API, not in Prometheus."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FRAMES_DROPPED = Counter("playcorder_gateway_frames_dropped_total", "Display frames dropped for a client reading too "
                         "slowly (the oldest queued frame goes for a new one; recorded steps never pass here)",
                         ["socket"])
FRAMES_SENT = Counter("playcorder_gateway_frames_sent_total", "Display frames sent to clients", ["socket"])
SESSIONS_RELAYED = Gauge("playcorder_gateway_sessions_relayed", "Play sessions whose WebSocket this gateway holds now")
RELAYS = Counter("playcorder_gateway_relays_total", "Play socket relays ended, by outcome: closed (by the client), "
                 "finished (by the worker), worker_lost, detached (the socket dropped; the session waits for a "
                 "resume), moved (its worker drains: the participant plays on in a session placed elsewhere)",
                 ["outcome"])
REFUSED = Counter("playcorder_gateway_sessions_refused_total", "Session opens refused, by the error code the client "
                  "got (no_capacity, unknown_env, unauthorized, ...)", ["code"])
