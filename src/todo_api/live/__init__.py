"""Live updates: event streams of each user's changes (`stream`), woken by one watcher of the
database per instance (`watcher`)."""
