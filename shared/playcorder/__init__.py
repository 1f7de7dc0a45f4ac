"""Playcorder: collect human play data from simulated environments."""
