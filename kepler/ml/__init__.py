"""Kepler's ML engine (needs the ml extra): algorithms, pipelines, metrics, the MLflow registry."""
