"""Test and benchmark scaffolding (dev only): the native stack and lakehouse fixtures,
throwaway engines and small models. Never imported by the platform's own code."""
