"""The live-updates benchmark: 1,000 open event streams on one instance (`/events`), what each
costs in memory and, idle, in CPU, and how long a change made through a second instance takes
to reach them (change-to-event latency, p50 and p99; the goal is p99 under 2 s).

Run as `python -m bench.streams` (PostgreSQL on 127.0.0.1:5432; a database of its own, dropped
afterwards). It prints a Markdown section for docs/benchmarks.md.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench import pg, tokens
from bench.procs import raise_nofile, tree
from bench.servers import free_port

DATABASE = "bench_todo_streams"
HOST = "127.0.0.1"


def _serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    todo_api = str(Path(sys.executable).parent / "todo-api")
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own command line
            [todo_api, "serve", "--host", HOST, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _wait_up(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection(HOST, port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"the service on port {port} did not start")


def _rss(pid: int) -> int:
    return sum(process.memory_info().rss for process in tree(pid))


def _cpu(pid: int) -> float:
    return sum(sum(process.cpu_times()[:2]) for process in tree(pid))


class Stream:
    """One `/events` connection, read by a task: the time each `changed` event arrives."""

    def __init__(self, port: int, user: str, token: str) -> None:
        self.port, self.user, self.token = port, user, token
        self.arrivals: dict[str, float] = {}  # task title -> arrival (monotonic)
        self.task: asyncio.Task[None] | None = None
        self.opened = asyncio.Event()

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        request = (
            f"GET /api/{self.user}/events HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        writer.write(request.encode())
        status = await reader.readline()
        if b" 200 " not in status:
            raise SystemExit(f"stream refused: {status!r}")
        self.opened.set()
        try:
            while line := await reader.readline():
                marker = b'"title":'
                if marker in line or b'"title" :' in line:
                    text = line.decode(errors="replace")
                    title = text.split('"title"', 1)[1].split('"', 2)[1]
                    self.arrivals.setdefault(title, time.monotonic())
        finally:
            writer.close()


async def _main(args: argparse.Namespace) -> str:
    raise_nofile(args.streams * 2 + 1000)
    pg.recreate_database(args.pg, DATABASE)
    dsn = pg.url(args.pg, DATABASE)
    secret = tokens.new_secret()
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "BETTER_AUTH_SECRET": secret,
        "MAX_STREAMS": str(args.streams),
        "MAX_STREAMS_PER_USER": str(args.per_user),
        "LOG_LEVEL": "WARNING",
    }
    pg.migrate([str(Path(sys.executable).parent / "todo-api"), "migrate"], dsn, env)
    log_dir = Path(tempfile.mkdtemp(prefix="todo-bench-streams-"))
    ports = [free_port(), free_port()]
    servers = [_serve(port, env, log_dir / f"streams-{port}.log") for port in ports]
    try:
        for port in ports:
            await _wait_up(port)
        holder = psutil.Process(servers[0].pid)
        rss_before = _rss(holder.pid)
        users = [f"stream-user-{n:04d}" for n in range(args.streams // args.per_user)]
        user_tokens = {user: tokens.mint(secret, user) for user in users}
        streams = [
            Stream(ports[0], user, user_tokens[user])
            for user in users
            for _ in range(args.per_user)
        ]
        for stream in streams:
            stream.task = asyncio.create_task(stream.run())
            await asyncio.sleep(0)  # let each connect in turn
        await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams)), 120)
        await asyncio.sleep(3)
        rss_open = _rss(holder.pid)
        cpu_start, wall_start = _cpu(holder.pid), time.monotonic()
        await asyncio.sleep(args.idle_seconds)
        idle_cpu = (_cpu(holder.pid) - cpu_start) / (time.monotonic() - wall_start)

        # Changes through the second instance, spread over the users; each reaches its user's
        # streams on the first.
        sent: dict[str, float] = {}
        reader, writer = await asyncio.open_connection(HOST, ports[1])
        for n in range(args.changes):
            user = users[n % len(users)]
            title = f"change-{n}"
            body = f'{{"title": "{title}"}}'
            request = (
                f"POST /api/{user}/tasks HTTP/1.1\r\nHost: {HOST}\r\n"
                f"Authorization: Bearer {user_tokens[user]}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
            )
            sent[title] = time.monotonic()
            writer.write(request.encode())
            await reader.readline()
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(args.change_interval)
        writer.close()
        await asyncio.sleep(4)
        latencies: list[float] = []
        missed = 0
        for n, (title, at) in enumerate(sent.items()):
            for stream in streams:
                if stream.user != users[n % len(users)]:
                    continue
                if title in stream.arrivals:
                    latencies.append(stream.arrivals[title] - at)
                else:
                    missed += 1
        for stream in streams:
            if stream.task is not None:
                stream.task.cancel()
        quantiles = statistics.quantiles(latencies, n=100)
        per_stream_kib = (rss_open - rss_before) / len(streams) / 1024
        return (
            f"| {len(streams):,} streams ({len(users)} users x {args.per_user}) on one instance | "
            f"{rss_before / 2**20:.0f} MB -> {rss_open / 2**20:.0f} MB: "
            f"{per_stream_kib:.1f} KiB a stream | {idle_cpu * 100:.1f} % of a core while idle "
            f"({args.idle_seconds} s) | {len(sent)} changes through the other instance: "
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {quantiles[98] * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms over {len(latencies):,} events; {missed} missed |"
        )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        pg.drop_database(args.pg, DATABASE)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=5)
    parser.add_argument("--idle-seconds", type=int, default=30)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--change-interval", type=float, default=0.05)
    print(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
