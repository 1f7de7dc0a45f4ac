"""Signing in as a browser does: a designer with a password, the sign-in request, a client holding its cookies."""

from __future__ import annotations

import asyncio
import uuid
from http.cookies import SimpleCookie
from typing import Any

import httpx

from playcorder.admin import set_password

PASSWORD = "correct horse battery"


def designer(stack: Any, password: str = PASSWORD) -> str:
    name = f"signin-{uuid.uuid4().hex[:8]}"
    asyncio.run(set_password(stack.database_url, name, password))
    return name


def sign_in(url: str, name: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(f"{url}/api/session", json={"name": name, "password": password}, timeout=30)


def browser(url: str, name: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A client holding the cookies of a sign-in, as a browser would, and the CSRF token."""
    response = sign_in(url, name, password)
    assert response.status_code == 200, response.text
    http = httpx.Client(base_url=url, timeout=30)
    for cookie in SimpleCookie("\n".join(response.headers.get_list("set-cookie"))).values():
        http.cookies.set(cookie.key, cookie.value)
    return http, response.json()["csrf_token"]


def cookies_of_sign_in(response: httpx.Response) -> dict[str, str]:
    """The cookies a sign-in response sets, by name."""
    return {c.key: c.value for c in SimpleCookie("\n".join(response.headers.get_list("set-cookie"))).values()}
