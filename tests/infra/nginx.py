"""nginx (Debian's package) as the load balancer in front of several `todo-api serve` instances,
configured as the README's "Event streams behind a load balancer" says."""

import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.infra.postgres import require, wait_for_port
from tests.serving import free_port, stop

NGINX = "/usr/sbin/nginx"


@dataclass
class Nginx:
    upstream_ports: list[int]
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="todo-nginx-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "error.log"

    def start(self) -> "Nginx":
        require(NGINX, "nginx")
        self.directory.chmod(0o755)  # nginx's workers run as nobody when it starts as root
        servers = "".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n"
            for port in self.upstream_ports
        )
        proxy = (
            "            proxy_pass http://todo_api;\n"
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";\n'
        )
        (self.directory / "nginx.conf").write_text(
            "worker_processes 1;\n"
            f"pid {self.directory / 'nginx.pid'};\n"
            f"error_log {self.log_path} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "    access_log off;\n"
            f"    client_body_temp_path {self.directory}/body;\n"
            f"    proxy_temp_path {self.directory}/proxy;\n"
            "    upstream todo_api {\n"
            f"{servers}"
            "        keepalive 32;\n"
            "    }\n"
            "    server {\n"
            f"        listen 127.0.0.1:{self.port};\n"
            "        location / {\n"
            f"{proxy}"
            # Creates carry an Idempotency-Key: a POST may be retried on another instance too.
            "            proxy_next_upstream error timeout http_502 http_503 non_idempotent;\n"
            "        }\n"
            "        location ~ ^/api/[^/]+/events$ {\n"
            f"{proxy}"
            "            proxy_buffering off;\n"
            "            proxy_read_timeout 1h;\n"
            "        }\n"
            "    }\n"
            "}\n"
        )
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.directory), "-c", "nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, 15)
        except TimeoutError:
            self.close()
            raise
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGQUIT, timeout=5)  # nginx: graceful shutdown
        self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
