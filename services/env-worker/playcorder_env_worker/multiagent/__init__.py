"""Multi-agent play (issue 16): several participants and AI policies acting for the agents of one game."""
