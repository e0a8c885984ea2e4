"""The straightforward async SQLModel version: what a tutorial would write, nothing tuned.

``select(Task)`` hydrates ORM objects, ``response_model`` validates them again, and the engine
keeps SQLAlchemy's default pool (5 connections + 10 overflow, 30 s timeout).
"""

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from sqlalchemy import BigInteger, Column, DateTime
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.baselines.auth import verify


def utcnow() -> datetime:
    return datetime.now(UTC)


class TaskBase(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)


class Task(TaskBase, table=True):
    __tablename__ = "tasks"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    user_id: str = Field(max_length=255, index=True)
    completed: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class TaskCreate(TaskBase):
    pass


class TaskUpdate(TaskBase):
    completed: bool | None = None


class TaskPublic(TaskBase):
    id: int
    user_id: str
    completed: bool
    created_at: datetime
    updated_at: datetime


def _async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


engine = create_async_engine(_async_url(os.environ["DATABASE_URL"]))


async def get_session() -> AsyncIterator[AsyncSession]:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session


async def current_user(user_id: str, authorization: Annotated[str | None, Header()] = None) -> str:
    return verify(authorization, user_id)


SessionDep = Annotated[AsyncSession, Depends(get_session)]
CurrentUser = Annotated[str, Depends(current_user)]

app = FastAPI()


async def owned_task(session: AsyncSession, user_id: str, task_id: int) -> Task:
    task = await session.get(Task, task_id)
    if task is None or task.user_id != user_id:
        raise HTTPException(404, "Task not found")
    return task


@app.get("/api/{user_id}/tasks", response_model=list[TaskPublic])
async def list_tasks(user_id: CurrentUser, session: SessionDep) -> list[Task]:
    result = await session.exec(select(Task).where(Task.user_id == user_id).order_by(col(Task.id)))
    return list(result.all())


@app.post("/api/{user_id}/tasks", response_model=TaskPublic, status_code=201)
async def create_task(user_id: CurrentUser, body: TaskCreate, session: SessionDep) -> Task:
    task = Task.model_validate(body, update={"user_id": user_id})
    session.add(task)
    await session.commit()
    await session.refresh(task)
    return task


@app.get("/api/{user_id}/tasks/{task_id}", response_model=TaskPublic)
async def get_task(user_id: CurrentUser, task_id: int, session: SessionDep) -> Task:
    return await owned_task(session, user_id, task_id)


@app.put("/api/{user_id}/tasks/{task_id}", response_model=TaskPublic)
async def update_task(
    user_id: CurrentUser, task_id: int, body: TaskUpdate, session: SessionDep
) -> Task:
    task = await owned_task(session, user_id, task_id)
    task.sqlmodel_update(body.model_dump(exclude_unset=True))
    task.updated_at = utcnow()
    session.add(task)
    await session.commit()
    await session.refresh(task)
    return task


@app.delete("/api/{user_id}/tasks/{task_id}", status_code=204)
async def delete_task(user_id: CurrentUser, task_id: int, session: SessionDep) -> None:
    task = await owned_task(session, user_id, task_id)
    await session.delete(task)
    await session.commit()


@app.patch("/api/{user_id}/tasks/{task_id}/complete", response_model=TaskPublic)
async def toggle_task(user_id: CurrentUser, task_id: int, session: SessionDep) -> Task:
    task = await owned_task(session, user_id, task_id)
    task.completed = not task.completed
    task.updated_at = utcnow()
    session.add(task)
    await session.commit()
    await session.refresh(task)
    return task
