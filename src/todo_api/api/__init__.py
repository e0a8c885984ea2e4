"""HTTP routes: tasks.py for the task endpoints, health.py for probes."""
