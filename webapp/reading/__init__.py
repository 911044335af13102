"""reading: an image in, a reading out (decode, normalise, uploads, the draw page, the JSON API); imports core, model."""
