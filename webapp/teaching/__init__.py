"""teaching: retrain settings, training runs, the job queue, the worker, generated drawings; imports reading, core, model."""
