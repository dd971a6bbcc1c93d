"""A stand-in for a RiskWatch service executable: `standin_service.py <service> migrate|serve`.

Behaviour knobs come from STANDIN_* environment variables so tests can provoke failures.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _rw_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("RW_")}


def migrate(service: str) -> int:
    data = Path(os.environ["RW_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    with (data / "migrations.log").open("a") as fh:
        fh.write(service + "\n")
    with (data / "migration-urls.log").open("a") as fh:
        fh.write(f"{service} {os.environ['RW_DATABASE__URL']}\n")
    if os.environ.get("STANDIN_FAIL_MIGRATE") == service:
        sys.stderr.write(f"{service}: migration failing on purpose\n")
        return 3
    return 0


def serve(service: str) -> int:
    if os.environ.get("STANDIN_CRASH") == service:
        sys.stderr.write(f"{service}: crashing on purpose\n")
        sys.stderr.flush()
        return 4
    if os.environ.get("STANDIN_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child_file = os.environ.get("STANDIN_CHILD_PID_FILE")
    if child_file:
        # A grandchild in the same process group, to check that stop() reaches it.
        child = subprocess.Popen(["sleep", "600"])  # noqa: S607
        Path(child_file).write_text(str(child.pid))
    ready_at = time.monotonic() + float(os.environ.get("STANDIN_READY_DELAY", "0"))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/readyz":
                ok = time.monotonic() >= ready_at
                body = {"service": service, "ready": ok}
                self._reply(200 if ok else 503, body)
            elif self.path == "/env":
                self._reply(200, _rw_env())
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, code: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    host = os.environ.get("RW_HOST", "127.0.0.1")
    port = int(os.environ["RW_PORT"])
    server = http.server.HTTPServer((host, port), Handler)
    sys.stdout.write(f"{service} serving on {host}:{port}\n")
    sys.stdout.flush()
    server.serve_forever()
    return 0


def main() -> int:
    service, action = sys.argv[1], sys.argv[2]
    if action == "migrate":
        return migrate(service)
    if action == "serve":
        return serve(service)
    sys.stderr.write(f"unknown action {action}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
