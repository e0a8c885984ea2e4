"""HS256 tokens like Better Auth's (``sub`` = user id, ``exp``) and the data files wrk reads."""

import secrets
import time
from collections.abc import Iterable
from pathlib import Path

import jwt

from bench.pg import SeededUser

TOKEN_LIFETIME_S = 6 * 3600


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def mint(secret: str, user_id: str, lifetime_s: int = TOKEN_LIFETIME_S) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + lifetime_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def write_data_file(
    path: Path, secret: str, users: Iterable[SeededUser], extra: str | None = None
) -> Path:
    """One line per user: ``user_id<TAB>token<TAB>id,id,...``, and ``<TAB>extra`` when given
    (what a workload needs besides: a page's query; see bench/lua/common.lua)."""
    tail = "" if extra is None else f"\t{extra}"
    lines = (
        f"{u.uid}\t{mint(secret, u.uid)}\t{','.join(map(str, u.task_ids))}{tail}\n" for u in users
    )
    path.write_text("".join(lines), encoding="utf-8")
    return path
