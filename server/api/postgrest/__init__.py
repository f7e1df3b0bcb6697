"""``/rest/v1``: supabase-js's database API (PostgREST's wire format) on the zero-config hub."""

from .routes import routes

__all__ = ["routes"]
