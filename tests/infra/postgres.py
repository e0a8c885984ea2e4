"""Private database servers for the infrastructure tests: a PostgreSQL 15 cluster of our own
(optionally with SSL and a SCRAM password user, the way Neon is reached) and PgBouncer in
transaction mode in front of any PostgreSQL.

Each one lives in a temporary directory, listens on a free port on 127.0.0.1 only (no Unix
socket), and is stopped and removed by `close()`. They never touch the machine's own PostgreSQL
on port 5432: stopping, restarting and delaying are done to these private servers only.
Running as root, the servers run as the `postgres` OS user (`runuser`); PostgreSQL and
PgBouncer both refuse root.
"""

import datetime
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest

from tests.serving import free_port, stop

POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
PGBOUNCER = os.environ.get("PGBOUNCER", "/usr/sbin/pgbouncer")
OS_USER = "postgres"
INSTALL_HINT = "apt-get update && apt-get install -y postgresql-15 pgbouncer"


def require(path: str | Path, what: str) -> None:
    """Fail (never skip) when a program these tests need is missing."""
    if not Path(path).exists():
        pytest.fail(f"{what} not found at {path}: {INSTALL_HINT}")


def _as_os_user(*command: str | Path) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", OS_USER, "--", *map(str, command)]
    return [str(part) for part in command]


def _private_dir(prefix: str) -> Path:
    """A temporary directory the server's OS user owns (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        user = pwd.getpwnam(OS_USER)
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o700)
    return path


def _give_to_os_user(*paths: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(OS_USER)
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    _give_to_os_user(cert_path, key_path)
    return cert_path, key_path


@dataclass
class PasswordUser:
    """A login role with a SCRAM-SHA-256 password, owning a database of its own."""

    name: str = "neon_user"
    password: str = "npg_S3cret-pass/with:odd@chars"  # a throwaway test password
    database: str = "neondb"


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of our own. `postgres` connects over TCP with trust (the tests' admin
    line); a `PasswordUser`, when given, must use SCRAM, and SSL when `ssl` is on."""

    ssl: bool = False
    password_user: PasswordUser | None = None
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: _private_dir("todo-pg-"))

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    def init(self) -> "PostgresCluster":
        require(POSTGRES_BIN / "initdb", "PostgreSQL 15's initdb")
        subprocess.run(
            _as_os_user(
                POSTGRES_BIN / "initdb",
                "-D",
                self.data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            "max_connections": "100",
            "fsync": "off",  # a test server: the OS's cache is durable enough
            "password_encryption": "'scram-sha-256'",
            "log_min_messages": "warning",
        }
        hba = ["host all postgres 127.0.0.1/32 trust"]
        if self.ssl:
            cert, key = self_signed_certificate(self.data)
            settings |= {"ssl": "on", "ssl_cert_file": f"'{cert}'", "ssl_key_file": f"'{key}'"}
        if self.password_user is not None:
            connection_type = "hostssl" if self.ssl else "host"
            hba.append(
                f"{connection_type} all {self.password_user.name} 127.0.0.1/32 scram-sha-256"
            )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        return self

    def start(self, wait: bool = True) -> "PostgresCluster":
        """Start the server; with `wait=False`, return as soon as it is launching."""
        pg_ctl: list[str | Path] = [POSTGRES_BIN / "pg_ctl", "-D", self.data, "-l", self.log_path]
        subprocess.run(
            _as_os_user(*pg_ctl, "-w" if wait else "-W", "start"),
            check=True,
            capture_output=True,
            cwd=self.directory,
        )
        if wait:
            wait_for_port(self.port, 30)
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session, as a restarting compute does; `immediate` is a crash."""
        subprocess.run(
            _as_os_user(POSTGRES_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"),
            check=False,
            capture_output=True,
            cwd=self.directory,
        )

    def is_running(self) -> bool:
        result = subprocess.run(
            _as_os_user(POSTGRES_BIN / "pg_ctl", "-D", self.data, "status"),
            capture_output=True,
            check=False,
            cwd=self.directory,
        )
        return result.returncode == 0

    def create_password_user(self) -> None:
        """Create the password user and its database (the server must be running)."""
        user = self.password_user
        assert user is not None
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(
                psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    psycopg.sql.Identifier(user.name), psycopg.sql.Literal(user.password)
                )
            )
            connection.execute(
                psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    psycopg.sql.Identifier(user.database), psycopg.sql.Identifier(user.name)
                )
            )

    def url(self, database: str = "postgres") -> str:
        """The admin line: user postgres, trust, no SSL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def neon_url(self, **query: str) -> str:
        """The password user's URL written the way Neon's console prints one."""
        user = self.password_user
        assert user is not None
        query = {"sslmode": "require", "channel_binding": "require"} | query
        return (
            f"postgresql://{quote(user.name, safe='')}:{quote(user.password, safe='')}"
            f"@127.0.0.1:{self.port}/{user.database}?{urlencode(query)}"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class PgBouncer:
    """PgBouncer in transaction mode (as Neon's pooler runs it) in front of one PostgreSQL.

    Every database name is passed through; clients are trusted (the server behind checks
    nothing either for `postgres`). Server-side prepared statements are not tracked: PgBouncer
    before 1.21 (Debian's is 1.18) does not support them in transaction mode.
    """

    upstream_port: int
    port: int = field(default_factory=free_port)
    pool_size: int = 20
    directory: Path = field(default_factory=lambda: _private_dir("todo-pgbouncer-"))
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "pgbouncer.log"

    def start(self) -> "PgBouncer":
        require(PGBOUNCER, "pgbouncer")
        users = self.directory / "users.txt"
        users.write_text('"postgres" ""\n')
        config = self.directory / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.upstream_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            "max_client_conn = 500\n"
            f"default_pool_size = {self.pool_size}\n"
            "server_reset_query =\n"
            "server_login_retry = 1\n"
            f"logfile = {self.log_path}\n"
            f"pidfile = {self.directory / 'pgbouncer.pid'}\n"
            "admin_users = postgres\n"
        )
        _give_to_os_user(users, config)
        # `-u` drops root for the OS user; PgBouncer refuses to run as root.
        command = [PGBOUNCER, str(config)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", OS_USER]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.directory
        )
        try:
            wait_for_port(self.port, 15)
        except TimeoutError:
            self.close()
            raise
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGTERM, timeout=5)  # PgBouncer: immediate shutdown
        self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
