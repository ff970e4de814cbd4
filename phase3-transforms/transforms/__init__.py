"""Phase 3: running the dbt project (silver/gold) against Trino, and building the lakehouse."""
