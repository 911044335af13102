"""core: the database (+ migrations), model versions, the collected samples, the served model; imports model only."""
