"""Reference servers the bench builds itself, each served by uvicorn with one worker.

- ``constant_app``: FastAPI + PyJWT, returns a constant JSON list (the framework ceiling).
- ``driver_app``: FastAPI + PyJWT + raw asyncpg + orjson (the driver ceiling).
- ``orm_app``: a straightforward async SQLModel version of every endpoint (the ORM baseline).
"""
