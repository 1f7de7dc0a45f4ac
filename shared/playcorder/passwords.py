"""Designer passwords: argon2id hashes (argon2-cffi's RFC 9106 defaults), their limits, and random ones.

Hashing and verifying take tens of milliseconds of CPU and 64 MiB each, by design: callers on an event loop use the
async functions, which run them in a thread, at most VERIFY_SLOTS at once per process.
"""

from __future__ import annotations

import asyncio
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH, MAX_LENGTH = 8, 256  # characters
VERIFY_SLOTS = 4  # concurrent hash computations per process (each takes 64 MiB for its duration)
_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
_slots = threading.BoundedSemaphore(VERIFY_SLOTS)
_dummy: list[str] = []  # a hash of nothing anyone knows, to spend the same time on unknown names


def check(password: str) -> str:
    """`password` if it is within the limits; ValueError naming them otherwise."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValueError(f"Expected a password of {MIN_LENGTH} to {MAX_LENGTH} characters, got {len(password)}")
    if "\x00" in password:
        raise ValueError("Expected a password without NUL characters, got one with")
    return password


def generate() -> str:
    """A random password (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(check(password))


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`; with no hash (an unknown name, an account without a password) it
    spends the same time and answers False, so that timing does not tell which names exist."""
    with _slots:
        if password_hash is None:
            if not _dummy:
                _dummy.append(_hasher.hash(secrets.token_hex(16)))
            password_hash, password = _dummy[0], password + "\x00"  # NUL: never a valid password, never a match
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash made with older parameters should be replaced (after a successful sign-in)."""
    return _hasher.check_needs_rehash(password_hash)


async def hash_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify, password_hash, password)
