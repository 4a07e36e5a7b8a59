"""Loopback port helpers."""

from __future__ import annotations

import random
import socket
import time

# The highest offset from a base port that ``missiva up`` binds (side ports B+51..B+55).
PLATFORM_SPAN = 55


class PortInUse(RuntimeError):
    """A port the platform needs is already taken."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    """Raise ``PortInUse`` with a clear message when ``port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUse(
                f"port {port} on {host} is already taken, so {what} cannot start; "
                f"stop whatever holds it or choose another port"
            ) from None


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    """Block until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_base_port(low: int = 20000, high: int = 32000) -> int:
    """A base port whose whole platform range is free (below the ephemeral range), for tests."""
    for _ in range(200):
        base = random.randrange(low, high, 5)
        if all(port_is_free(base + offset) for offset in range(1, PLATFORM_SPAN + 1)):
            return base
    raise RuntimeError("no free port range found")
