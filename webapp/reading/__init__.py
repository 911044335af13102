"""reading: image in, reading out: decode, normalise, draw page, JSON API. Imports core, model."""
