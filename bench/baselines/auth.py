"""Token checks shared by the baselines: PyJWT HS256, `sub` is the user, `exp` required."""

import os

import jwt
from fastapi import HTTPException
from jwt.types import Options

SECRET = os.environ.get("BETTER_AUTH_SECRET", "")
_OPTIONS: Options = {"require": ["exp", "sub"]}
_BEARER = "bearer "


def verify(authorization: str | None, user_id: str) -> str:
    """Return the token's user id; 401 for a missing or bad token, 403 for another user's path."""
    if not authorization or authorization[:7].lower() != _BEARER:
        raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = jwt.decode(authorization[7:], SECRET, algorithms=["HS256"], options=_OPTIONS)
    except jwt.PyJWTError:
        raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"}) from None
    subject = str(claims["sub"])
    if subject != user_id:
        raise HTTPException(403, "Forbidden")
    return subject
