"""ops: digits command, gunicorn, /healthz, request log. Imports admin.auth, teaching, core."""
