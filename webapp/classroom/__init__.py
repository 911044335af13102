"""classroom: class sessions, the class board, a class teaching its model. Imports admin.auth, teaching, reading, core, model."""
