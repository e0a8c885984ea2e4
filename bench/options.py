"""Command-line options of ``python -m bench.run``."""

import argparse
from dataclasses import dataclass
from pathlib import Path

V1_WORKLOADS = ("list", "get", "create", "toggle", "mix", "list_big")
# The v2 workloads (bench/v2.py): the service only, one user with 10,000 tasks, at c=100 in the
# table-size phase's 5,000,000-row database (or in the main phase without that phase).
PAGE_WORKLOADS = ("page_pending_due", "page_deep", "page_tag", "search_q", "search_rare")
V2_WORKLOADS = (*PAGE_WORKLOADS, "patch_if_match")
V2_CONCURRENCY = 100
WORKLOADS = (*V1_WORKLOADS, *V2_WORKLOADS)
DEFAULT_WORKLOADS = ("list", "get", "create", "toggle", "mix", *V2_WORKLOADS)
DEFAULT_OURS_CMD = "todo-api serve --host {host} --port {port} --workers {workers}"
DEFAULT_MIGRATE_CMD = "todo-api migrate"
REPO_ROOT = Path(__file__).resolve().parent.parent
HIGH_CONCURRENCY = 500


@dataclass(frozen=True)
class Options:
    smoke: bool
    duration: int
    duration_high: int
    warmup: int
    runs: int
    concurrency: tuple[int, ...]
    workloads: tuple[str, ...]
    ours_cmd: str | None
    migrate_cmd: str
    ours_workers: tuple[int, ...]
    baselines: bool
    table_sizes: tuple[int, int] | None
    size_concurrency: tuple[int, ...]
    size_runs: int
    users: int
    tasks_per_user: int
    big_user_tasks: int
    v2_user_tasks: int
    pg_dsn: str
    database: str
    out_dir: Path | None
    uvicorn_loop: str
    timeout: str
    profile: bool
    keep_database: bool
    previous: str | None

    @property
    def table_sizes_small(self) -> int:
        return self.table_sizes[0] if self.table_sizes else 0

    @property
    def v2_workloads(self) -> tuple[str, ...]:
        """The v2 workloads asked for (the service's only: none with --no-ours)."""
        if self.ours_cmd is None:
            return ()
        return tuple(w for w in self.workloads if w in V2_WORKLOADS)

    @property
    def v2_in_size_phase(self) -> bool:
        """Whether the v2 workloads run in the table-size phase, against its large database,
        rather than in the main phase against the small seed."""
        return bool(self.v2_workloads) and self.table_sizes is not None

    def seconds(self, concurrency: int) -> int:
        """Run length: high concurrency needs longer runs for replies slower than the timeout."""
        return self.duration_high if concurrency >= HIGH_CONCURRENCY else self.duration


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown workload(s): {', '.join(unknown)}")
    return names


def _sizes(text: str) -> tuple[int, int] | None:
    if text.lower() in {"", "none", "off"}:
        return None
    values = _ints(text)
    if len(values) != 2 or not 0 < values[0] < values[1]:
        raise argparse.ArgumentTypeError("--table-sizes needs SMALL,LARGE with SMALL < LARGE")
    return values[0], values[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the Todo API against its baselines with wrk on 127.0.0.1.",
    )
    add = parser.add_argument
    add(
        "--smoke",
        action="store_true",
        help="~10 s of load: 1 run of 1 s, c=10, list, mix and the v2 workloads (against the "
        "small seed), no table-size phase; writes to a temporary directory, never docs/",
    )
    add("--duration", type=int, default=10, help="seconds of load per wrk run (default 10)")
    add(
        "--duration-high",
        type=int,
        default=35,
        help=f"seconds per run at concurrency >= {HIGH_CONCURRENCY} (default 35: longer than "
        "wrk's 30 s timeout, so a reply that takes longer is counted as a timeout, and every "
        "connection gets several answers)",
    )
    add(
        "--warmup",
        type=int,
        default=2,
        help="seconds of unmeasured load per server and workload before run 1 (default 2)",
    )
    add("--runs", type=int, default=3, help="interleaved runs; medians are reported (default 3)")
    add(
        "--concurrency",
        type=_ints,
        default=(10, 100, 1000),
        help="comma-separated connection counts (default 10,100,1000)",
    )
    add(
        "--workloads",
        type=_names,
        default=DEFAULT_WORKLOADS,
        help=f"comma-separated, from {','.join(WORKLOADS)} (default: all but list_big); the "
        "v2 ones (page_*, search_q, patch_if_match) run in the table-size phase at c=100",
    )
    add(
        "--ours-cmd",
        default=DEFAULT_OURS_CMD,
        help="command that serves the service; {host} {port} {workers} {python} are filled in "
        f"(default: '{DEFAULT_OURS_CMD}')",
    )
    add("--no-ours", action="store_true", help="measure the baselines only")
    add(
        "--migrate-cmd",
        default=DEFAULT_MIGRATE_CMD,
        help="creates table tasks from DATABASE_URL; 'builtin' uses the bench's own DDL "
        f"(default: '{DEFAULT_MIGRATE_CMD}')",
    )
    add(
        "--ours-workers",
        type=_ints,
        default=(1, 2),
        help="worker counts to run the service with; each is its own server (default 1,2; "
        "extra worker counts run list and mix only)",
    )
    add("--no-baselines", action="store_true", help="skip the three baselines")
    add(
        "--table-sizes",
        type=_sizes,
        default=(50_000, 5_000_000),
        help="SMALL,LARGE rows in tasks for the table-size phase, or 'none' "
        "(default 50000,5000000)",
    )
    add(
        "--size-concurrency",
        type=_ints,
        default=(10, 100),
        help="concurrency of the table-size phase's list runs (default 10,100)",
    )
    add(
        "--size-runs",
        type=int,
        default=5,
        help="interleaved runs of the table-size phase: p50s of two servers differ by 10-20 %% "
        "between runs on a shared 2-core machine, so it takes more than --runs (default 5)",
    )
    add("--users", type=int, default=1000, help="seeded users (default 1000)")
    add("--tasks-per-user", type=int, default=50, help="tasks per seeded user (default 50)")
    add("--big-user-tasks", type=int, default=5000, help="tasks of the one big user (default 5000)")
    add(
        "--v2-user-tasks",
        type=int,
        default=10_000,
        help="tasks of the v2 workloads' user (default 10000)",
    )
    add(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server, without a database name (default: local, user postgres)",
    )
    add(
        "--database",
        default="bench_todo",
        help="database to drop and create (default bench_todo; the table-size phase uses "
        "NAME_ROWS for each size)",
    )
    add(
        "--out",
        type=Path,
        default=None,
        help="where benchmarks.md/.png/.json go (default docs/, or a temp dir with --smoke)",
    )
    add(
        "--uvicorn-loop",
        default="auto",
        choices=("auto", "asyncio", "uvloop"),
        help="event loop of the baselines (default auto: uvloop when installed)",
    )
    add("--timeout", default="30s", help="wrk --timeout (default 30s)")
    add(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the measured runs, record py-spy profiles of the service (list and mix at "
        "the middle concurrency; not counted in the results); default on, off with --smoke",
    )
    add("--keep-database", action="store_true", help="leave the databases behind at the end")
    add(
        "--previous",
        metavar="REV",
        default=None,
        help="also measure the service at this commit (1 worker, its own database made by its "
        "own migrations), interleaved with the rest: a change judged against the code before "
        "it (see bench/previous.py)",
    )
    return parser


def parse(argv: list[str] | None = None) -> Options:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.runs = 1, 0, 1
        args.concurrency, args.workloads = (10,), ("list", "mix", *V2_WORKLOADS)
        args.table_sizes, args.ours_workers, args.profile = None, (1,), False
    if args.runs < 1 or args.duration < 1 or min(args.concurrency) < 1:
        raise SystemExit("--runs, --duration and --concurrency must be positive")
    return Options(
        smoke=args.smoke,
        duration=args.duration,
        duration_high=max(args.duration, args.duration_high),
        warmup=args.warmup,
        runs=args.runs,
        concurrency=tuple(sorted(args.concurrency)),
        workloads=args.workloads,
        ours_cmd=None if args.no_ours else args.ours_cmd,
        migrate_cmd=args.migrate_cmd,
        ours_workers=args.ours_workers,
        baselines=not args.no_baselines,
        table_sizes=args.table_sizes,
        size_concurrency=args.size_concurrency,
        size_runs=max(args.runs, args.size_runs),
        users=args.users,
        tasks_per_user=args.tasks_per_user,
        big_user_tasks=args.big_user_tasks,
        v2_user_tasks=args.v2_user_tasks,
        pg_dsn=args.pg.rstrip("/"),
        database=args.database,
        out_dir=args.out,
        uvicorn_loop=args.uvicorn_loop,
        timeout=args.timeout,
        profile=args.profile,
        keep_database=args.keep_database,
        previous=args.previous,
    )
