"""The shared parts every area uses: settings, the database and its tables, errors, HTTP plumbing,
logging, metrics."""
