"""ops: the digits command (entry point), gunicorn, /healthz, the request log; imports admin, teaching, core, model."""
