"""Playcorder env-worker: many play sessions per process, one Gymnasium environment each."""
