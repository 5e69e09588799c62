"""`python -m ragsite.run`: the whole product on one machine, on embedded defaults.

Starts PostgreSQL+pgvector and Redis (data under var/), applies migrations, creates the
demo users and documents, then runs one Celery worker and the ASGI server until Ctrl-C,
which stops every process it started. DATABASE_URL / REDIS_URL in the environment replace
the embedded servers.

`python -m ragsite.run manage COMMAND ...` runs one management command against the same
embedded servers (joining them if `make run` is already running).
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ragsite.embedded import (
    redis_is_serving,
    redis_orphaned,
    secret_key,
    sigterm_as_exit,
    start_postgres,
    start_redis,
    stop_redis_at,
)

ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = "ragsite"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--no-demo", action="store_true", help="do not create demo users and documents")
    if sys.argv[1:2] == ["manage"]:
        return run_management_command(sys.argv[2:])
    args = parser.parse_args()
    with sigterm_as_exit():  # while starting: through `finally`, which stops what started
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    var_dir = Path(os.environ.get("VAR_DIR", ROOT / "var"))
    env = dict(os.environ, PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="ragsite.settings", WARM_UP_MODELS="1")
    stoppers = []
    children: list[subprocess.Popen] = []
    started = time.monotonic()
    try:
        _embedded_services(env, var_dir, stoppers)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        make_private(Path(os.environ.get("MEDIA_ROOT", var_dir / "media")))
        children.append(_spawn([sys.executable, "-m", "celery", "-A", "ragsite", "worker",
                                "--concurrency", "1", "--loglevel", "INFO", "--without-gossip",
                                "--without-mingle"], env))  # fmt: skip
        children.append(_spawn([sys.executable, "-m", "daphne", "-b", args.host, "-p", str(args.port),
                                "ragsite.asgi:application"], env))  # fmt: skip
        if not args.no_demo:
            subprocess.run([*manage, "seed_demo"], env=env, check=True)
        print(f"\nReady in {time.monotonic() - started:.1f} s: open http://{args.host}:{args.port}/  (Ctrl-C stops)\n",
              flush=True)  # fmt: skip
        return _wait(children)
    except subprocess.CalledProcessError as exc:
        print(f"Start-up step failed: {' '.join(map(str, exc.cmd[1:3]))}", file=sys.stderr)
        return 1
    finally:
        _stop(children)
        for stop in reversed(stoppers):
            stop()


def make_private(root: Path) -> None:
    """Uploads stored before they were written 0600 (settings.FILE_UPLOAD_PERMISSIONS) become so too."""
    if not root.is_dir():
        return
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def run_management_command(arguments: list[str]) -> int:
    """Ctrl-C and SIGTERM reach the command, which ends through its own clean-up; however it
    ends (done, failed, interrupted, killed), the servers this started are stopped."""
    var_dir = Path(os.environ.get("VAR_DIR", ROOT / "var"))
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="ragsite.settings")
    stoppers: list = []
    child: subprocess.Popen | None = None

    def forward(signum, frame) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)
        elif child is None:
            raise SystemExit(128 + signum)  # still starting the servers: stop them and leave

    previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        _embedded_services(env, var_dir, stoppers)
        child = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *arguments], env=env)
        return child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        for stop in reversed(stoppers):
            stop()


def _embedded_services(env: dict[str, str], var_dir: Path, stoppers: list) -> None:
    """Fills in DATABASE_URL and REDIS_URL, starting (or joining) the embedded servers."""
    env.setdefault("SECRET_KEY", secret_key(var_dir))
    if not env.get("DATABASE_URL"):
        postgres = start_postgres(var_dir / "pgdata")
        stoppers.append(postgres.stop)
        postgres.ensure_database(DATABASE_NAME)
        env["DATABASE_URL"] = postgres.url(DATABASE_NAME)
    if not env.get("REDIS_URL"):
        socket_path = (var_dir / "redis" / "redis.sock").resolve()
        if redis_is_serving(socket_path):
            env["REDIS_URL"] = f"unix://{socket_path}"
            if redis_orphaned(var_dir / "redis"):  # left by a run killed outright: ours to stop now
                stoppers.append(lambda: stop_redis_at(socket_path))
        else:
            redis = start_redis(var_dir / "redis")
            stoppers.append(redis.stop)
            env["REDIS_URL"] = redis.url


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True)


def _wait(children: list[subprocess.Popen]) -> int:
    stopping = {"asked": False}

    def ask_to_stop(signum, frame) -> None:
        stopping["asked"] = True

    signal.signal(signal.SIGINT, ask_to_stop)
    signal.signal(signal.SIGTERM, ask_to_stop)
    while not stopping["asked"]:
        for child in children:
            if child.poll() is not None:
                print(f"{child.args[2]} stopped (exit {child.returncode}); shutting down.", file=sys.stderr)
                return 1
        time.sleep(0.3)
    print("\nStopping…", flush=True)
    return 0


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    sys.exit(main())
