"""Killing `cisono chat` between two messages loses nothing: the next run goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


class ChatProcess:
    """`cisono chat` in a real process, fed line by line through a pipe."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "chat", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.output = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output += line

    def say(self, text: str, expect: str, timeout: float = 30) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while expect not in self.output:
            assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"no {expect!r} in:\n{self.output}"
            time.sleep(0.02)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, CISONO_DATABASE_URL=f"sqlite:///{tmp_path / 'cisono.db'}")
    subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], env=env, check=True)
    return env


def test_kill_9_between_two_messages_loses_nothing(env: dict[str, str]):
    first = ChatProcess(env, "--phone", "+393331112222")
    first.say("ciao", "In che lingua")
    first.say("1", "Sei d'accordo?")
    first.say("sì", "Come ti chiami?")
    first.say("Maria Rossi", "Chi sei per la cooperativa?")
    first.kill()
    assert first.process.returncode == -signal.SIGKILL

    second = ChatProcess(env, "--phone", "+393331112222")
    second.say("famiglia", "Benvenuto, Maria Rossi!")
    second.say("profilo", "Telefono: +393331112222")
    second.kill()
