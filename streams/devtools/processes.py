"""Child processes of `make run` and of the tests: started so that they die with their parent."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn of every child we start: the kernel SIGKILLs it when its parent dies, so no broker
    or worker outlives a test or `make run` that was killed."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgrp()  # Ctrl-C in a terminal reaches us, not the child: we stop it ourselves, in order.


def spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )


def stop(proc: subprocess.Popen | None, timeout: float = 30.0, sig: int = signal.SIGTERM) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(
    url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None, ready=lambda status, body: status == 200
) -> bytes:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!s} exited with {proc.returncode} before {url} answered")
        try:
            status, body = http_get(url)
            if ready(status, body):
                return body
            last = f"{status} {body[:200]!r}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


def scrape(url: str) -> dict[str, float]:
    """Prometheus text exposition -> {'name{labels}': value}; enough for counters and gauges."""
    _, body = http_get(url)
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
