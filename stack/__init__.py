"""The production profile on one machine (`make stack`): PostgreSQL, Redis, an authenticated
MLflow server, and Airflow 3 on the CeleryExecutor with two workers, all run natively from the
settings in docker/compose.yaml (stack/compose_env.py), so the two cannot drift apart.
Airflow environment only (standard library, PyYAML and psycopg2): never TFX."""
