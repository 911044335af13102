"""teaching: retrain settings, runs, job queue, worker, drawings. Imports reading, core, model."""
