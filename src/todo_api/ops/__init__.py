"""For operators: health and readiness, Prometheus metrics."""
