"""Real server processes for tests: the ASGI server as `make run` starts it."""

import socket
import subprocess
import sys
import time

from django.conf import settings


class Daphne:
    """The ASGI server as `make run` starts it, on a fixed port so that it can be restarted."""

    def __init__(self, env: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "ragsite.asgi:application"],
            env=self.env, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 600  # importing torch on a slow, busy machine; a crash ends it sooner
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("Daphne exited while starting") from None
                time.sleep(0.2)
        raise RuntimeError("Daphne did not start listening")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
