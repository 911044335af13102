"""core: the database (+ migrations), model versions, samples, the served model. Imports model."""
