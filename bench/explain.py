"""`EXPLAIN (ANALYZE, BUFFERS)` of each page workload's query, as the service runs it.

The statement comes from the service's own code (`todo_api.tasks.listing.page_statement` for
the same query parameters the workload sends), so a change to the query is what gets explained.
It runs with bound parameters through SQLAlchemy and psycopg, without server-side prepared
statements, as the service runs it by default: the planner sees the values, as it does for the
service. (Compiling it with literal values does not work: `LIMIT`'s parameter has no SQL type.)
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_origin

from bench.pg import SeededUser
from bench.v2 import query_params

SCANS = frozenset({"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"})
SORTS = frozenset({"Sort", "Incremental Sort"})
VERDICT_RULE = (
    "no sequential scan of tasks; no sort of more rows than the page, or for a search, whose "
    "matches no index gives in order, no reading of all the user's tasks"
)


@dataclass(frozen=True)
class Plan:
    workload: str
    request: str  # the request the workload sends
    rows: int  # rows in tasks
    text: str  # EXPLAIN (ANALYZE, BUFFERS), as PostgreSQL prints it
    seq_scan: bool  # a Seq Scan on tasks
    sorts: tuple[tuple[str, int], ...]  # each sort node: its method, and the rows it sorted
    read_rows: int  # rows the scans of tasks produced, with those their filters removed
    removed_rows: int  # of which removed by a filter (or an index recheck)
    page_rows: int  # rows one page fetches: limit + 1 (whether another page follows)
    search: bool  # the query has `q`
    user_rows: int  # the user's tasks
    shared_hit: int
    shared_read: int
    error: str | None = None

    @property
    def sorted_rows(self) -> int:
        return max((rows for _, rows in self.sorts), default=0)

    @property
    def ok(self) -> bool:
        """No sequential scan of tasks; and no sort of more rows than the page fetches, or, for
        a search (no index gives a text's matches in a list's order, so its matches are
        sorted), no reading of every one of the user's tasks."""
        if self.error is not None or self.seq_scan:
            return False
        if self.search:
            return self.read_rows < self.user_rows
        return self.sorted_rows <= self.page_rows


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def _total(node: dict[str, Any], field: str) -> int:
    # EXPLAIN ANALYZE shows row counts per loop.
    value: float = node.get(field, 0) * node.get("Actual Loops", 1)
    return round(value)


def _failed(workload: str, request: str, rows: int, error: str) -> Plan:
    return Plan(workload, request, rows, "", False, (), 0, 0, 0, False, 0, 0, 0, error)


def explain(dsn: str, workload: str, user: SeededUser, query: str, rows: int) -> Plan:
    """The plan of ``GET /api/{user}/tasks?{query}`` on the database at ``dsn``."""
    request = f"GET /api/{user.uid}/tasks?{query}"
    try:
        from sqlalchemy import create_engine, func, select
        from sqlalchemy.dialects.postgresql.base import PGCompiler
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.ext.compiler import compiles
        from sqlalchemy.pool import NullPool
        from sqlalchemy.sql.expression import ClauseElement, Executable
        from sqlmodel import col

        from todo_api.core.models import Task
        from todo_api.tasks.listing import ListParams, page_statement
    except ImportError as error:  # --no-ours: the service is not installed
        return _failed(workload, request, rows, f"cannot import the service's code: {error}")

    class Explain(Executable, ClauseElement):
        inherit_cache = False

        def __init__(self, statement: Any, explain_options: str) -> None:
            self.statement, self.explain_options = statement, explain_options

    @compiles(Explain)
    def _compile(element: Explain, compiler: PGCompiler, **kw: Any) -> str:
        return f"EXPLAIN ({element.explain_options}) " + compiler.process(element.statement, **kw)

    repeatable = frozenset(
        name
        for name, field in ListParams.model_fields.items()
        if get_origin(field.annotation) is list
    )
    params = ListParams.model_validate(query_params(query, repeatable))
    statement, values = page_statement("postgresql", user.uid, params)
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url, poolclass=NullPool, connect_args={"prepare_threshold": None})
    try:
        with engine.connect() as conn:
            # Once unexplained first, as the workload's own requests did: the pages it reads
            # are in shared buffers then, and both plans below see the same (hits, not reads).
            conn.execute(statement, values).all()
            raw = conn.execute(Explain(statement, "ANALYZE, BUFFERS, FORMAT JSON"), values)
            document = raw.scalar_one()
            lines = conn.execute(Explain(statement, "ANALYZE, BUFFERS"), values).scalars()
            text = "\n".join(lines)
            owned = select(func.count()).select_from(Task).where(col(Task.user_id) == user.uid)
            user_rows = conn.execute(owned).scalar_one()
    except SQLAlchemyError as error:
        return _failed(workload, request, rows, str(error).splitlines()[0])
    finally:
        engine.dispose()
    top = (document[0] if isinstance(document, list) else document)["Plan"]
    nodes = list(_nodes(top))
    scans = [n for n in nodes if n["Node Type"] in SCANS and n.get("Relation Name") == "tasks"]
    removed = sum(
        _total(n, "Rows Removed by Filter") + _total(n, "Rows Removed by Index Recheck")
        for n in scans
    )
    sorts = tuple(
        (
            str(n.get("Sort Method", n["Node Type"])),
            sum(_total(c, "Actual Rows") for c in n["Plans"]),
        )
        for n in nodes
        if n["Node Type"] in SORTS
    )
    return Plan(
        workload=workload,
        request=request,
        rows=rows,
        text=text,
        seq_scan=any(n["Node Type"] == "Seq Scan" for n in scans),
        sorts=sorts,
        read_rows=sum(_total(n, "Actual Rows") for n in scans) + removed,
        removed_rows=removed,
        page_rows=params.limit + 1 if params.limit else 0,
        search=params.q is not None,
        user_rows=user_rows,
        shared_hit=int(top.get("Shared Hit Blocks", 0)),
        shared_read=int(top.get("Shared Read Blocks", 0)),
    )


def explain_all(dsn: str, user: SeededUser, queries: dict[str, str], rows: int) -> list["Plan"]:
    return [explain(dsn, workload, user, query, rows) for workload, query in queries.items()]
