"""admin: the dashboard, its login and CSRF-checked forms, the run panel and charts; imports teaching, reading, core, model."""
