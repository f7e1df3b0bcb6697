"""Supabase Realtime on the zero-config hub: Phoenix channels with postgres_changes, broadcast and presence."""
