"""An interrupted evaluation leaves no throw-away database behind, and the next run never asks a question."""

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from django.conf import settings

from tests.services import _state, database_url_for

pytestmark = pytest.mark.slow
DOCUMENT = "# Leave\n\n## Annual leave\n\n" + "Full-time employees receive 25 days of paid annual leave. " * 3


def throwaway_databases() -> list[str]:
    with psycopg.connect(_state["postgres"].server.get_uri(), autocommit=True) as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE 'ragsite_eval_%'").fetchall()
    return [row[0] for row in rows]


def labelled_set(tmp_path) -> tuple[str, str]:
    """A question file and twelve small documents: enough for a run to be caught mid-way."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        (docs / f"leave-{i}.md").write_text(DOCUMENT.replace("Leave", f"Leave {i}"))
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "How many days of annual leave?", "facts": [["25 days"]]}\n')
    return str(questions), str(docs)


def own_servers_env(tmp_path) -> tuple[dict[str, str], object]:
    """The environment of a run that starts its own embedded servers under tmp_path/var."""
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(VAR_DIR=str(var), MEDIA_ROOT=str(tmp_path / "media"))
    return env, var


def assert_servers_stopped(var) -> None:
    import redis as redis_client

    assert not postgres_serving(var / "pgdata"), "PostgreSQL was stopped"
    with pytest.raises(redis_client.exceptions.ConnectionError):
        redis_client.Redis(unix_socket_path=str(var / "redis" / "redis.sock")).ping()


@pytest.fixture
def evaluation(tmp_path):
    questions, docs = labelled_set(tmp_path)
    env = dict(os.environ, DATABASE_URL=database_url_for("ragsite"), MEDIA_ROOT=str(tmp_path / "media"))

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "evaluate_answers", questions, "--documents", docs, "--json"],
            cwd=settings.BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    return start


def wait_for_its_database(process: subprocess.Popen) -> str:
    name = f"ragsite_eval_{process.pid}"
    while name not in throwaway_databases():
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    return name


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_a_run_stopped_by_a_signal_removes_its_database(evaluation, how):
    run = evaluation()
    wait_for_its_database(run)
    run.send_signal(how)
    run.wait(300)
    assert throwaway_databases() == []


def test_a_database_left_by_a_killed_run_is_dropped_by_the_next_run_without_a_prompt(evaluation):
    killed = evaluation()
    left = wait_for_its_database(killed)
    killed.kill()
    killed.wait(60)
    assert left in throwaway_databases(), "SIGKILL leaves it behind"
    after = evaluation()
    out, err = after.communicate(timeout=600)
    assert after.returncode == 0, err.decode()
    assert b'"facts": 1.0' in out
    assert throwaway_databases() == [], "the stale one and its own are both gone"


def postgres_serving(pgdata) -> bool:
    import psutil

    try:
        return psutil.pid_exists(int((pgdata / "postmaster.pid").read_text().split()[0]))
    except (FileNotFoundError, ValueError, IndexError):  # none, or being written
        return False


@pytest.mark.parametrize("how", ["SIGTERM to the command", "SIGKILL to its child"])
def test_manage_through_the_run_command_stops_its_servers_however_the_command_ends(tmp_path, how):
    questions, docs = labelled_set(tmp_path)
    env, var = own_servers_env(tmp_path)
    command = [sys.executable, "-m", "ragsite.run", "manage", "evaluate_answers", questions,
               "--documents", docs, "--json"]  # fmt: skip
    run = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 600
    while not postgres_serving(var / "pgdata") or not (var / "redis" / "redis.sock").exists():
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1)  # the command itself is starting
    if how == "SIGTERM to the command":
        run.send_signal(signal.SIGTERM)
    else:
        children = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True, text=True).stdout.split()
        manage = [int(pid) for pid in children if "manage.py" in open(f"/proc/{pid}/cmdline").read()]
        assert manage, "the management command runs as a child"
        os.kill(manage[0], signal.SIGKILL)
    run.wait(300)
    assert_servers_stopped(var)


def test_servers_left_by_a_run_killed_outright_are_stopped_by_the_next_one(tmp_path):
    env, var = own_servers_env(tmp_path)
    manage = [sys.executable, "-m", "ragsite.run", "manage"]
    hanging = subprocess.Popen([*manage, "shell", "-c", "import time; time.sleep(600)"], cwd=settings.BASE_DIR,
                               env=env, stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not postgres_serving(var / "pgdata") or not (var / "redis" / "owner.pid").exists():
        assert hanging.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(hanging.pid, signal.SIGKILL)  # the run command and its child, no clean-up at all
    hanging.wait(30)
    assert postgres_serving(var / "pgdata"), "left running"
    after = subprocess.run([*manage, "check"], cwd=settings.BASE_DIR, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert after.returncode == 0, after.stderr
    assert_servers_stopped(var)  # the next run adopted the orphans and stopped them


def test_the_run_command_stops_everything_when_one_of_its_processes_dies(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env, var = own_servers_env(tmp_path)
    env["PYTHONUNBUFFERED"] = "1"
    run = subprocess.Popen([sys.executable, "-m", "ragsite.run", "--no-demo", "--port", str(port)],
                           cwd=settings.BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    for line in run.stdout:
        if line.startswith("Ready in"):
            break
    else:
        pytest.fail("the run command did not get ready")
    children = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True, text=True).stdout.split()
    worker = [int(pid) for pid in children if "celery" in open(f"/proc/{pid}/cmdline").read()]
    os.kill(worker[0], signal.SIGKILL)
    assert run.wait(120) == 1
    assert_servers_stopped(var)
