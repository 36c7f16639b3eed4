-- One PostgreSQL server, three databases: airflow (created by POSTGRES_DB), mlflow and mlmd.
CREATE DATABASE mlflow;
CREATE DATABASE mlmd;
