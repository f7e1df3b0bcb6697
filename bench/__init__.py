"""Benchmarks of the hub against a bare ``websockets`` server; run them as modules (``python -m bench.fanout``)."""
