"""The platform's contracts: what the phases exchange, and nothing of how they work.

Avro schemas and the Confluent wire format (:mod:`.avro`), the schema registry client
(:mod:`.registry`), the names of topics, tables and registry entries (:mod:`.names`), the
DLQ record headers (:mod:`.dlq`) and the model's feature definitions (:mod:`.features`).
This package imports nothing of the project.
"""
