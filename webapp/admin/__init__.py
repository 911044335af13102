"""admin: dashboard, login, sessions, throttle, charts. Imports teaching, reading, core, model."""
