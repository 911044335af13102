"""admin: dashboard, login, run panel, charts. Imports teaching, reading, core, model."""
