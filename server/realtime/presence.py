"""Presence of one topic across processes, in Phoenix's shapes: sans-I/O.

Each process repeats that it is alive on the topics it has entries on; the entries of a process not heard for a
while (it crashed, or lost its broker) leave.

Each ``track`` is an entry ``(phx_ref, key, meta)`` owned by one process (``node``). ``presence_state`` groups the
entries by key (``{key: {"metas": [{"phx_ref": ..., **meta}]}}``), and every change is a ``presence_diff``
``{"joins": {...}, "leaves": {...}}`` of the same shape, as Phoenix.Presence sends them. A re-track by the same
channel is a leave of its old entry and a join of the new one, whose meta names the old ref (``phx_ref_prev``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    ref: str
    key: str
    meta: dict[str, Any]
    node: str

    def shown(self) -> dict[str, Any]:
        return {**self.meta, "phx_ref": self.ref}


def grouped(entries: list[Entry]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Entries in Phoenix.Presence's shape: ``{key: {"metas": [...]}}``."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for entry in entries:
        out.setdefault(entry.key, {"metas": []})["metas"].append(entry.shown())
    return out


@dataclass
class Diff:
    joins: list[Entry] = field(default_factory=list)
    leaves: list[Entry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.joins or self.leaves)

    def payload(self) -> dict[str, Any]:
        return {"joins": grouped(self.joins), "leaves": grouped(self.leaves)}


@dataclass
class TopicPresence:
    """Every entry known for one topic, local and remote."""

    entries: dict[str, Entry] = field(default_factory=dict)
    heard: dict[str, float] = field(default_factory=dict)
    """When each process last spoke on this topic (a monotonic clock); one that stops is forgotten."""

    def state(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        return grouped(list(self.entries.values()))

    def apply(self, joins: list[Entry], leaves: list[str]) -> Diff:
        """Add ``joins`` and drop the entries of ``leaves`` (refs); the diff of what actually changed."""
        diff = Diff()
        for ref in leaves:
            gone = self.entries.pop(ref, None)
            if gone is not None:
                diff.leaves.append(gone)
        for entry in joins:
            if entry.ref not in self.entries:
                self.entries[entry.ref] = entry
                diff.joins.append(entry)
        return diff

    def of_node(self, node: str) -> list[Entry]:
        return [entry for entry in self.entries.values() if entry.node == node]

    def silent(self, now: float, ttl: float, me: str) -> list[str]:
        """Other processes with entries here that have not been heard for ``ttl`` seconds."""
        nodes = {entry.node for entry in self.entries.values() if entry.node != me}
        return [node for node in nodes if now - self.heard.get(node, now) > ttl]

    def drop_node(self, node: str) -> Diff:
        """Forget every entry of a process that went away."""
        return self.apply([], [entry.ref for entry in self.of_node(node)])
