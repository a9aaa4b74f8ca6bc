"""AutoML: search algorithms, parameters and feature work under a time budget (Optuna)."""
