"""Playcorder recorder: stores recorded episodes durably, acknowledging only what is stored."""
