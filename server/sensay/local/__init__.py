"""The local replica: an in-memory stand-in for the Sensay API, served over real HTTP.

It speaks the endpoints our client uses with the spec's rules (401 for a wrong secret or an unknown
``X-USER-ID``, 404 for an unknown replica, 415 for a body that is not JSON, 400 for a bad body, errors in
Sensay's shape with a ``request_id``), keeps users, replicas and per-user chat history in memory, and answers
deterministically "in character", streaming word by word when asked for ``text/event-stream``.

Knobs for tests and benchmarks are plain attributes and methods: ``latency``, ``word_delay``, ``stream_style``,
``fail_next()``, ``hang_next()``, ``lose_next()``, ``hold_streams()``; counters: ``chat_requests``, ``requests``,
``max_inflight_chats``, ``chats`` (per message); what a user has said to a replica (Sensay's history of them):
``said_to()``.

``sensay-hub local-replica`` serves one as its own process; its counters are read over HTTP at ``GET /local/chats``
(with the organization secret), so tests with several hub processes can count the Sensay calls per reply.

Modules: ``routes`` (the endpoints and knobs), ``bodies`` (requests as msgspec structs, errors in Sensay's
shape), ``personas`` (the seeded replicas), ``answers`` (how they read a prompt and answer), ``streaming`` (an
answer as JSON or a stream), ``faults`` (injected failures), ``server`` (uvicorn, embedded or as a process).
"""

from __future__ import annotations

from .personas import ADA_LOVELACE_UUID, SENSAY_GUIDE_UUID, SOCRATES_UUID, TASK_MEMORY_UUID
from .routes import LocalReplica
from .server import KEEP_ALIVE_SECONDS, run_process, serve_local_replica
from .streaming import StreamStyle

__all__ = [
    "ADA_LOVELACE_UUID",
    "KEEP_ALIVE_SECONDS",
    "SENSAY_GUIDE_UUID",
    "SOCRATES_UUID",
    "TASK_MEMORY_UUID",
    "LocalReplica",
    "StreamStyle",
    "create_local_replica",
    "run_local_replica",
    "serve_local_replica",
]


def create_local_replica(*, organization_secret: str, latency: float = 0.0, word_delay: float = 0.0) -> LocalReplica:
    """A local replica with the seeded personas, requiring ``organization_secret``."""
    return LocalReplica(organization_secret=organization_secret, latency=latency, word_delay=word_delay)


def run_local_replica(*, host: str, port: int, organization_secret: str, word_delay: float, log_level: str) -> None:
    """Serve a local replica as the whole process (``sensay-hub local-replica``) until SIGINT or SIGTERM."""
    replica = create_local_replica(organization_secret=organization_secret, word_delay=word_delay)
    run_process(replica, host=host, port=port, log_level=log_level)
