"""Authentication: which tokens are accepted (tokens.py) and how routes require them (guard.py)."""
