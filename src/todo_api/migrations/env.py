"""Alembic environment: runs against the connection that `todo_api.core.migrate` hands over."""

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import todo_api.core.models  # noqa: F401 - registers the tables on SQLModel.metadata

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
