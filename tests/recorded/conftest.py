"""Replays must never open a socket: ``no_network`` (or ``block_network``) makes any attempt fail loudly."""

from __future__ import annotations

import socket

import pytest


class NetworkAttempt(AssertionError):
    """A replay tried to reach the network."""


def block_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail any socket connect or DNS lookup (sync and asyncio alike); returns the attempts made."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise NetworkAttempt(f"a replay tried to reach the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """No socket may be opened during the test; the list collects any attempt."""
    return block_network(monkeypatch)
