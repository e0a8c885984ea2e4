"""Run a command with TEST_DATABASE_URL pointing at PgBouncer in transaction mode, started here
in front of a PostgreSQL server, and stopped when the command ends. CI runs the PostgreSQL half
of the test suite this way, as Neon's pooled URL would serve it:

    python -m tests.infra.behind_pgbouncer [--upstream-port 5432] -- pytest -k postgresql
"""

import argparse
import os
import subprocess
import sys

from sqlalchemy.engine import make_url

from tests.infra.postgres import PgBouncer

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-port", type=int, default=5432)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    bouncer = PgBouncer(upstream_port=args.upstream_port).start()
    try:
        upstream = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_URL))
        url = upstream.set(host="127.0.0.1", port=bouncer.port)
        env = os.environ | {
            "TEST_DATABASE_URL": url.render_as_string(hide_password=False),
            # The server itself, for what a transaction pooler cannot carry (LISTEN).
            "TEST_DIRECT_DATABASE_URL": upstream.render_as_string(hide_password=False),
        }
        print(f"pgbouncer (transaction mode) on 127.0.0.1:{bouncer.port}", flush=True)
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        bouncer.close()


if __name__ == "__main__":
    sys.exit(main())
