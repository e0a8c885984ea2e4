"""Sync across devices: /changes, and the live /events stream with its watcher."""
