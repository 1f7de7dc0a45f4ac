"""Multi-agent play (issue 16): games of several agents on one env-worker (docs/multiagent.md)."""
