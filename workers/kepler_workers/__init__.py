"""Kepler's Celery workers: thin tasks over the plain training functions in kepler.ml."""
