"""Reference servers the bench builds itself, each served by uvicorn with one worker.

- ``constant_app``: FastAPI + PyJWT, returns a constant JSON list (the framework ceiling).
- ``driver_app``: FastAPI + PyJWT + raw asyncpg, PostgreSQL's JSON text passed through (the
  driver ceiling).
- ``decoded_driver_app``: the same, with the rows decoded and encoded again by orjson (the
  ceiling before; slower than the service's own technique).
- ``orm_app``: a straightforward async SQLModel version of every endpoint (the ORM baseline).
"""
