"""The WebSocket transport: the ``/ws`` endpoint, the protocol session of one socket, and resume."""
