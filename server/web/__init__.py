"""The demo page at ``/demo``: static files and the compiled TypeScript client, served as they are."""
