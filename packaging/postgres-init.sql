-- Run once by the postgres image on a fresh volume: MLflow's registry gets its own database
-- beside Kepler's jobs database (POSTGRES_DB=kepler).
CREATE DATABASE mlflow OWNER kepler;
