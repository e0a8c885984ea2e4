"""``python -m bench.run``: the whole benchmark in one command (see bench/README.md)."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # also runnable as ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    chart,
    explain,
    machine,
    measure,
    pg,
    previous,
    procs,
    profile,
    report,
    targets,
    tokens,
    v2,
    wrk,
)
from bench.options import (
    HIGH_CONCURRENCY,
    PAGE_WORKLOADS,
    REPO_ROOT,
    V2_CONCURRENCY,
    V2_WORKLOADS,
    Options,
    parse,
)
from bench.servers import Server, ServerSpec, baseline_specs, ours_specs, resolve_command
from bench.stats import Key, Row, Sample, summarize_all

PROFILE_WORKLOADS = ("list", "mix")


def server_env(secret: str, dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "NEON_DB_URL"}}
    env.update(
        DATABASE_URL=dsn,
        BETTER_AUTH_SECRET=secret,
        LOG_LEVEL="WARNING",
        ALLOWED_ORIGINS="http://localhost:3000",
        PYTHONUNBUFFERED="1",
    )
    return env


def migrate_command(opts: Options) -> tuple[str, ...] | None:
    """The migration's command line, or None for the bench's own DDL."""
    if opts.migrate_cmd == "builtin":
        return None
    try:
        return resolve_command(opts.migrate_cmd, 0, 1)
    except SystemExit:
        if opts.ours_cmd is None:
            print("no service installed: the bench's own DDL creates the table", flush=True)
            return None
        raise


def prepare(
    opts: Options,
    database: str,
    env: dict[str, str],
    users: int,
    big: int,
    migrate: tuple[str, ...] | None,
    v2_tasks: int = 0,
) -> pg.Seed:
    """A fresh database, made by ``migrate`` (None: the bench's own DDL) and seeded."""
    dsn = pg.url(opts.pg_dsn, database)
    pg.recreate_database(opts.pg_dsn, database)
    pg.migrate(migrate, dsn, env)
    started = time.monotonic()
    seed = pg.seed(dsn, users, opts.tasks_per_user, big, v2_tasks)
    print(
        f"{database}: {pg.count_tasks(dsn):,} tasks for {users:,} users"
        f"{f' + 1 user with {big:,}' if big else ''}"
        f"{f' + the v2 user with {v2_tasks:,}' if v2_tasks else ''}"
        f" in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return seed


def previous_server(
    opts: Options, env: dict[str, str], work: Path, seed: pg.Seed, v2_tasks: int
) -> ServerSpec:
    """The service at --previous, on a database of its own seeded like the main one; it runs
    the v1 workloads (the v2 ones may not exist at that commit)."""
    assert opts.previous is not None
    src = previous.check_out(opts.previous, work)
    database = previous.database(opts.database)
    own = prepare(
        opts,
        database,
        {**env, "PYTHONPATH": str(src)},
        opts.users,
        opts.big_user_tasks,
        previous.migrate_command(),
        v2_tasks,
    )
    if own != seed:  # the load addresses tasks by id: both databases must hold the same ones
        raise SystemExit(f"{database} was seeded with other task ids than {opts.database}")
    workloads = tuple(w for w in opts.workloads if w not in V2_WORKLOADS)
    return previous.spec(opts.previous, workloads, src, pg.url(opts.pg_dsn, database))


def start_all(
    stack: ExitStack,
    specs: list[ServerSpec],
    env: dict[str, str],
    logs: Path,
    probe: pg.SeededUser,
    secret: str,
    rows: int = 0,
) -> list[Server]:
    path, token = f"/api/{probe.uid}/tasks", tokens.mint(secret, probe.uid)
    servers = [stack.enter_context(Server(spec, env, logs, rows)).launch() for spec in specs]
    for server in servers:
        server.wait_ready(path, token)
        print(f"started {server.label} (pid {server.pid}) at {server.base_url}", flush=True)
    same_answers(servers, path, token)
    return servers


def same_answers(servers: list[Server], path: str, token: str) -> None:
    """The driver ceiling must give the service's answer byte for byte, or a ratio against it
    would measure a different answer."""
    bodies = {server.spec.name: server.get(path, token) for server in servers}
    if "ours" in bodies and "driver" in bodies and bodies["driver"] != bodies["ours"]:
        raise SystemExit(f"the driver ceiling does not answer {path} as the service does")


def warm_up(
    driver: measure.Driver, servers: list[Server], workloads: tuple[str, ...], s: int
) -> None:
    if s <= 0:
        return
    for server in servers:
        for workload in workloads:
            if workload in server.spec.workloads:
                measure.once(driver, server, workload, 10, s)


def record_profiles(
    opts: Options, driver: measure.Driver, servers: list[Server], out: Path
) -> list[profile.Profile]:
    ours = next((s for s in servers if s.spec.name == "ours"), None)
    if not opts.profile or ours is None:
        return []
    if profile.py_spy() is None:
        print("py-spy not found: no profile (pip install py-spy)", flush=True)
        return []
    c = opts.concurrency[len(opts.concurrency) // 2]
    found = []
    for workload in (w for w in PROFILE_WORKLOADS if w in ours.spec.workloads):
        raw = out / f"profile-{workload}-c{c}.txt"
        spy = profile.start(ours.pid, opts.duration, raw)
        if spy is None:
            continue
        time.sleep(0.5)
        measure.once(driver, ours, workload, c, opts.duration)
        _, err = spy.communicate(timeout=opts.duration + 60)
        summary = profile.summarize(f"the service, {workload}, c={c}", raw)
        if summary is None:
            print(f"py-spy gave no samples: {err.decode(errors='replace')[-500:]}", flush=True)
        else:
            found.append(summary)
    return found


def size_specs(opts: Options, workloads: tuple[str, ...] = ("list",)) -> list[ServerSpec]:
    """A fresh set (new ports) of the servers the table-size phase compares."""
    specs = ours_specs(opts.ours_cmd, (1,), workloads) if opts.ours_cmd else []
    if opts.baselines:
        specs += [s for s in baseline_specs(opts.uvicorn_loop) if s.name == "driver"]
    return specs


def size_database(
    opts: Options, database: str, env: dict[str, str], rows: int, v2_tasks: int = 0
) -> tuple[pg.Seed, pg.SeededUser | None]:
    """The same users and tasks as every other size, then filler users' tasks up to ``rows``,
    with the v2 user's tasks (when asked) spread among them."""
    users = max(1, opts.table_sizes_small // opts.tasks_per_user)
    seed = prepare(opts, database, env, users, 0, migrate_command(opts))
    dsn = pg.url(opts.pg_dsn, database)
    present = pg.count_tasks(dsn)
    if rows > present or v2_tasks:
        started = time.monotonic()
        pg.grow(dsn, rows - present, opts.tasks_per_user, v2_tasks)
        took = time.monotonic() - started
        among = f", the v2 user's {v2_tasks:,} among them," if v2_tasks else ""
        print(
            f"{database}: grew to {pg.count_tasks(dsn):,} tasks{among} in {took:.0f} s", flush=True
        )
    return seed, pg.seeded_user(dsn, pg.V2_USER) if v2_tasks else None


@dataclass(frozen=True)
class V2Setup:
    """What the v2 workloads need on the server that runs them: the data files, the page
    queries (explained after the runs), and the hook that writes patch_if_match's data."""

    user: pg.SeededUser
    data: dict[str, Path]
    queries: dict[str, str]
    before: v2.PatchData


def v2_setup(
    workloads: tuple[str, ...], server: Server, user: pg.SeededUser, secret: str, work: Path
) -> V2Setup:
    data: dict[str, Path] = {}
    queries: dict[str, str] = {}
    for workload in workloads:
        if workload in PAGE_WORKLOADS:
            query = v2.QUERIES[workload]
            if workload == "page_deep":
                query = v2.deep_page(server, user, tokens.mint(secret, user.uid))
            queries[workload] = query
            data[workload] = v2.write_page_data(work / f"{workload}.tsv", secret, user, query)
    data["patch_if_match"] = work / "patch_if_match.tsv"  # written before each run
    return V2Setup(user, data, queries, v2.PatchData(data["patch_if_match"], secret, user))


def explain_pages(opts: Options, setup: V2Setup | None, database: str) -> list[explain.Plan]:
    """EXPLAIN (ANALYZE, BUFFERS) of the page workloads, on the database they ran on."""
    if setup is None or not setup.queries:
        return []
    dsn = pg.url(opts.pg_dsn, database)
    plans = explain.explain_all(dsn, setup.user, setup.queries, pg.count_tasks(dsn))
    for plan in plans:
        verdict = plan.error or (
            f"seq scan of tasks: {'yes' if plan.seq_scan else 'no'}, "
            f"rows sorted: {plan.sorted_rows:,}, rows read: {plan.read_rows:,}"
        )
        print(f"EXPLAIN {plan.workload}: {verdict}", flush=True)
    return plans


@dataclass(frozen=True)
class SizePhase:
    samples: list[Sample]
    timings: list[pg.QueryTiming]
    plans: list[explain.Plan]


def table_size_phase(opts: Options, secret: str, work: Path, wrk_bin: str) -> SizePhase:
    """Both table sizes side by side, each with its own servers, runs interleaved; and the
    list query alone, timed against each database. The v2 workloads run here, on the large
    database's `ours`, in the same runs as list."""
    if opts.table_sizes is None or not size_specs(opts):
        return SizePhase([], [], [])
    small, large = opts.table_sizes
    extra = opts.v2_workloads
    databases = {rows: f"{opts.database}_{rows}" for rows in opts.table_sizes}
    seeds = {}
    v2_user = None
    for rows, database in databases.items():
        seeds[rows], found = size_database(
            opts,
            database,
            server_env(secret, pg.url(opts.pg_dsn, database)),
            rows,
            opts.v2_user_tasks if extra and rows == large else 0,
        )
        v2_user = v2_user or found
    seed = seeds[small]
    uids = [u.uid for u in seed.users]
    timings = [
        pg.time_list_query(pg.url(opts.pg_dsn, database), uids, rows)
        for rows, database in databases.items()
    ]
    data = {"list": tokens.write_data_file(work / "size-users.tsv", secret, seed.users)}
    large_dsn = pg.url(opts.pg_dsn, databases[large])
    large_max_id = pg.max_task_id(large_dsn)
    driver = measure.Driver(
        wrk_bin,
        data,
        opts.timeout,
        work / "wrk.log",
        lambda: pg.reset_writes(large_dsn, large_max_id),  # after patch_if_match
    )
    setup = None
    with ExitStack() as stack:
        servers: list[Server] = []
        for rows, database in databases.items():
            env = server_env(secret, pg.url(opts.pg_dsn, database))
            specs = size_specs(opts, ("list", *extra) if rows == large else ("list",))
            servers += start_all(stack, specs, env, work, seed.users[0], secret, rows)
        if extra and v2_user is not None:
            ours = next(s for s in servers if s.spec.name == "ours" and s.rows == large)
            setup = v2_setup(extra, ours, v2_user, secret, work)
            data.update(setup.data)
            driver = replace(driver, before=setup.before)
        workloads = ("list", *extra)
        levels: dict[str, tuple[int, ...]] = {w: (V2_CONCURRENCY,) for w in extra}
        if extra:  # the v2 workloads' ratios need list at their concurrency
            levels["list"] = tuple(sorted({*opts.size_concurrency, V2_CONCURRENCY}))
        warm_up(driver, servers, workloads, opts.warmup)
        samples = measure.interleaved(
            driver, servers, workloads, opts.size_concurrency, opts.size_runs, opts.seconds, levels
        )
    plans = explain_pages(opts, setup, databases[large])
    if not opts.keep_database:
        for database in databases.values():
            pg.drop_database(opts.pg_dsn, database)
    return SizePhase(samples, timings, plans)


def settings_text(opts: Options, nofile: int) -> dict[str, str]:
    sizes = "skipped"
    if opts.table_sizes:
        small, large = opts.table_sizes
        at = ", ".join(f"{c:,}" for c in opts.size_concurrency)
        sizes = f"{small:,} and {large:,} rows, list at c={at}, {opts.size_runs} runs"
    v2_text = "not run"
    if opts.v2_workloads:
        names = ", ".join(opts.v2_workloads)
        user = f"the v2 user ({opts.v2_user_tasks:,} tasks)"
        if opts.v2_in_size_phase and opts.table_sizes:
            v2_text = (
                f"{names}: `ours` (1 worker) at c={V2_CONCURRENCY}, {user} spread among the "
                f"{opts.table_sizes[1]:,} rows of the table-size phase's large database, in its "
                f"{opts.size_runs} interleaved runs with list"
            )
        else:
            at = ", ".join(f"{c:,}" for c in opts.concurrency)
            v2_text = f"{names}: `ours` at c={at}, {user} added to the seed above"
    return {
        "runs": f"{opts.runs} interleaved (server order rotates each run), {opts.duration} s each "
        f"({opts.duration_high} s at c >= {HIGH_CONCURRENCY}), {opts.warmup} s warm-up per server "
        "and workload",
        "concurrency": ", ".join(f"{c:,}" for c in opts.concurrency),
        "wrk": f"1 thread, `--timeout {opts.timeout}`, `--latency`, ulimit -n {nofile}",
        "seed": f"{opts.users:,} users x {opts.tasks_per_user} tasks + 1 user x "
        f"{opts.big_user_tasks:,} tasks (every user's: mixed priorities, half with a due date, "
        f"a third completed, about 4 % containing `{pg.SEARCH_WORD}`), COPY then "
        "VACUUM (ANALYZE); rows created by a write workload are deleted after each run",
        "table-size phase": sizes,
        "v2 workloads": v2_text,
        "baselines": f"uvicorn, 1 worker, `--loop {opts.uvicorn_loop}`, no access log",
    }


def write_outputs(
    out: Path, rep: report.Report, samples: list[Sample], size_samples: list[Sample]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    order = [s.name for s in rep.servers]
    chart.draw(rep.rows, order, out / rep.chart_name, "Todo API: list 50 tasks and the mix")
    report.write(rep, out / "benchmarks.md")
    raw = [
        {
            **asdict(s.key),
            "run": s.run,
            **asdict(s.result),
            "rps": s.result.rps,
            "rss_tree_mb": s.rss_tree_mb,
            "rss_process_mb": s.rss_process_mb,
        }
        for s in samples + size_samples
    ]
    (out / "benchmarks.json").write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    lock = procs.exclusive_run()
    # SIGTERM unwinds like Ctrl-C, so every server started so far is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = machine.load_average()
    nofile = procs.raise_nofile()
    wrk_bin = wrk.ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="todo-bench-"))
    out = opts.out_dir or (work / "out" if opts.smoke else REPO_ROOT / "docs")
    print(f"work dir {work}, results to {out}", flush=True)

    secret = tokens.new_secret()
    dsn = pg.url(opts.pg_dsn, opts.database)
    env = server_env(secret, dsn)
    # The v2 workloads run in the table-size phase (its large database) when there is one,
    # else here, against the small seed with the v2 user added.
    v2_here = () if opts.v2_in_size_phase else opts.v2_workloads
    workloads = tuple(w for w in opts.workloads if w not in V2_WORKLOADS or w in v2_here)
    specs = ours_specs(opts.ours_cmd, opts.ours_workers, workloads) if opts.ours_cmd else []
    specs += baseline_specs(opts.uvicorn_loop) if opts.baselines else []
    if not specs:
        raise SystemExit("nothing to measure: --no-ours and --no-baselines")
    v2_tasks = opts.v2_user_tasks if v2_here else 0
    seed = prepare(
        opts,
        opts.database,
        env,
        opts.users,
        opts.big_user_tasks,
        migrate_command(opts),
        v2_tasks,
    )
    databases = [dsn]
    if opts.previous:
        specs.append(previous_server(opts, env, work, seed, v2_tasks))
        databases.append(dict(specs[-1].env)["DATABASE_URL"])
    data = {w: tokens.write_data_file(work / "users.tsv", secret, seed.users) for w in ("list",)}
    data.update({w: data["list"] for w in ("get", "create", "toggle", "mix")})
    if seed.big_user is not None:
        data["list_big"] = tokens.write_data_file(work / "big-user.tsv", secret, [seed.big_user])

    def reset_writes() -> None:
        for database in databases:
            pg.reset_writes(database, seed.max_id)

    driver = measure.Driver(wrk_bin, data, opts.timeout, work / "wrk.log", reset_writes)

    setup = None
    with ExitStack() as stack:
        servers = start_all(stack, specs, env, work, seed.users[0], secret)
        if v2_here and seed.v2_user is not None:
            ours = next(s for s in servers if s.spec.name == "ours")
            setup = v2_setup(v2_here, ours, seed.v2_user, secret, work)
            data.update(setup.data)
            driver = replace(driver, before=setup.before)
        warm_up(driver, servers, workloads, opts.warmup)
        samples = measure.interleaved(
            driver, servers, workloads, opts.concurrency, opts.runs, opts.seconds
        )
        try:
            profiles = record_profiles(opts, driver, servers, work)
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            print(f"profile failed: {error}", flush=True)
            profiles = []
    plans = explain_pages(opts, setup, opts.database)
    try:
        size = table_size_phase(opts, secret, work, wrk_bin)
    except (SystemExit, RuntimeError, OSError) as error:
        # The main results are already measured: report them, and say what failed.
        print(f"table-size phase failed: {error}", flush=True)
        size = SizePhase([], [], [])
    size_samples, timings = size.samples, size.timings
    plans += size.plans
    if not opts.keep_database:
        pg.drop_database(opts.pg_dsn, opts.database)
        if opts.previous:
            pg.drop_database(opts.pg_dsn, previous.database(opts.database))

    rows: dict[Key, Row] = summarize_all(samples)
    size_rows = summarize_all(size_samples)
    rep = report.Report(
        command=["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)],
        started=started,
        settings=settings_text(opts, nofile),
        machine=machine.describe(
            pg.server_version(pg.url(opts.pg_dsn, "postgres")),
            wrk.version(wrk_bin),
            nofile,
            load_before,
        ),
        servers=specs,
        rows=rows,
        size_rows=size_rows,
        query_timings=timings,
        checks=targets.check(rows, size_rows, plans),
        profiles=profiles,
        plans=plans,
        chart_name="benchmarks.png",
    )
    write_outputs(out, rep, samples, size_samples)
    for check in rep.checks:
        print(f"target: {check.target}: {check.measured} -> {check.met}", flush=True)
    print(f"wrote {out / 'benchmarks.md'} and {out / rep.chart_name}; logs in {work}", flush=True)
    lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
