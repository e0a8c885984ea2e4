"""Todo API: a secure multi-user todo backend for apps signed in with Better Auth."""
