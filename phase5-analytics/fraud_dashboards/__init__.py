"""Grafana dashboards as code: generator, PromQL checks and rendered pictures."""
