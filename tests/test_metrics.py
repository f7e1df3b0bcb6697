"""The metrics registry: every metric is documented in the README, and names follow Prometheus' conventions."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY

from server import metrics
from server.metrics import frame_type

README = Path(__file__).resolve().parent.parent / "README.md"


def _ours() -> dict[str, str]:
    """Our metric families (name as documented, with ``_total`` for counters) and their types."""
    families = {}
    for family in REGISTRY.collect():
        if family.name.startswith(metrics.NAMESPACE):
            name = family.name + {"counter": "_total", "info": "_info"}.get(family.type, "")
            families[name] = family.type
    return families


def test_every_metric_is_in_the_readme_and_every_documented_one_exists() -> None:
    """The README's metrics table and the registry name the same metrics."""
    documented = set(re.findall(r"`(sensay_hub_\w+)`", README.read_text()))
    documented |= {"sensay_hub_ws_send_queue_max_frames"}  # written as `…_frames` / `_max_frames` in one row
    assert set(_ours()) == documented


def test_names_carry_units_and_counters_end_in_total() -> None:
    """Histograms of time end in _seconds; no family name repeats _total (prometheus-client adds it)."""
    for name, kind in _ours().items():
        if kind == "histogram":
            assert name.endswith("_seconds"), name
        assert not name.endswith("_total_total"), name


def test_frame_type_reads_the_tag_without_decoding() -> None:
    """The tag of an encoded server frame is read from its first field; anything else counts as ``other``."""
    assert frame_type('{"type":"reply.delta","index":0}') == "reply.delta"
    assert frame_type('{"index":0,"type":"ack"}') == "other"
    assert frame_type('{"type":"' + "x" * 100 + '"}') == "other"
