"""argon2id password hashing off the event loop, with bounded and fair concurrency.

A hash costs tens of milliseconds of CPU. Hashes run on a pool of ``workers`` threads of their own (argon2-cffi
releases the GIL, so the event loop keeps serving sockets meanwhile), and each client address has at most one
hash queued or running: a flood of logins from one address waits behind itself, while another client's login
finds a worker free at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" profile
# Verified when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")


def _check(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class _Turn:
    """One client's place in line: a lock and how many of its requests hold or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Passwords:
    """Hashes and verifies passwords on ``workers`` threads, one at a time per client address."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._turns: dict[str, _Turn] = {}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str, *, client: str = "") -> str:
        return await self._run(client, _hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str, *, client: str = "") -> bool:
        """Whether ``password`` matches; with no hash (an unknown user) a dummy is checked so it takes as long."""
        return await self._run(client, _check, password_hash, password)

    @staticmethod
    def needs_rehash(password_hash: str) -> bool:
        return _hasher.check_needs_rehash(password_hash)

    async def _run(self, client: str, fn: Callable[..., T], *args: str | None) -> T:
        loop = asyncio.get_running_loop()
        if not client:
            return await loop.run_in_executor(self._executor, fn, *args)
        turn = self._turns.setdefault(client, _Turn())
        turn.users += 1
        try:
            async with turn.lock:
                return await loop.run_in_executor(self._executor, fn, *args)
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._turns[client]
