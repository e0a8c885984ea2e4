"""Conditional requests (RFC 9110): a task's ETag is its version, `"<version>"`; a list's is a
hash of its body. `If-Match` makes a write happen only on the version a client last saw;
`If-None-Match` lets a client that already holds the current answer get a bodiless 304."""

import re
import zlib
from typing import Annotated, Any

from fastapi import Header

from todo_api.core.bodies import not_null_in_schema
from todo_api.core.errors import NotEntityTags
from todo_api.tasks.store import Versions

# One entity tag of a list: optionally weak, then a quoted opaque string; and a whole header of
# them (RFC 9110 §8.8.3: `*`, or entity tags separated by commas), published as the headers'
# pattern.
_TAG = r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"'
_ENTITY_TAG = re.compile(rf"[ \t]*{_TAG}[ \t]*(?:,|$)")
ENTITY_TAGS_PATTERN = rf"^[ \t]*(?:\*|{_TAG}(?:[ \t]*,[ \t]*{_TAG})*)[ \t]*$"
_ENTITY_TAGS = re.compile(ENTITY_TAGS_PATTERN)


def _entity_tags_schema(schema: dict[str, Any]) -> None:
    # Published, not enforced by FastAPI: a value of another form is a 400 (`_tags`), not a 422.
    not_null_in_schema(schema)
    schema["pattern"] = ENTITY_TAGS_PATTERN


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        json_schema_extra=_entity_tags_schema,
        description='Write only if the task\'s ETag is one of these (`"3"`, `"3", "4"`) or the '
        "value is `*`; otherwise 412 PRECONDITION_FAILED and nothing changes. Weak tags "
        '(`W/"3"`) never match',
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        json_schema_extra=_entity_tags_schema,
        description="A 304 with no body when the answer's ETag is one of these (or `*`)",
    ),
]

# A version as its ETag spells it; the column is a 32-bit integer.
_VERSION = re.compile(r"[1-9][0-9]{0,8}")


def task_etag(version: int) -> str:
    return f'"{version}"'


def list_etag(body: bytes) -> str:
    """A list's ETag: a checksum of the body it goes with, which changes whenever the body
    would. Two checksums and the length, 72 bits in all, not a cryptographic hash: a list is not
    a secret, and a hash cost a list request a twentieth of its time (docs/benchmarks.md)."""
    return f'"{zlib.crc32(body):08x}{zlib.adler32(body):08x}{len(body):x}"'


def _tags(header: str, name: str) -> list[tuple[bool, str]]:
    """(weak, opaque) of each entity tag in the header. A value that is not a list of entity
    tags (`1` for `"1"`) is a 400 naming the header: read as matching nothing, it would be a
    412 saying the task changed, and a client that re-reads and retries would loop forever."""
    if not _ENTITY_TAGS.fullmatch(header):
        raise NotEntityTags(
            f'{name} must be * or entity tags in double quotes, as the ETag header gives them: "3"'
        )
    return [(bool(m.group(1)), m.group(2)) for m in _ENTITY_TAG.finditer(header)]


def versions_to_match(if_match: str | None) -> Versions:
    """The versions a write may change, from If-Match: None for any (no header, or `*`)."""
    if if_match is None:
        return None
    tags = _tags(if_match, "If-Match")
    if if_match.strip() == "*":
        return None
    return frozenset(
        int(opaque) for weak, opaque in tags if not weak and _VERSION.fullmatch(opaque)
    )


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names this ETag (weak comparison, as RFC 9110 asks for GET)."""
    if if_none_match is None:
        return False
    tags = _tags(if_none_match, "If-None-Match")
    if if_none_match.strip() == "*":
        return True
    return any(f'"{opaque}"' == etag for _, opaque in tags)
