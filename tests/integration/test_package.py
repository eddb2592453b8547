"""The installable package: every third-party import of what the wheel ships is a pinned dependency,
and the wheel, installed into a fresh virtualenv, works from outside the checkout (the contract in
it, no dev tooling)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.paths import PYPROJECT, REPO

CHECK_INSTALLED = """
import json, time
import streams.api.app  # the worker's app: faust, aiohttp, mode, the engine, all importable
from streams.contract import SCHEMA_DIR
from streams.validation import decode_message

def decode(event):
    events, rejections = decode_message(json.dumps(event).encode(), int(time.time() * 1000),
                                        max_message_bytes=1 << 20, max_batch_events=100, max_future_ms=60_000)
    return [e.type for e in events], [r.reason for r in rejections]

like = {"event_id": "e1", "type": "like", "ts": "2025-01-01T00:00:00Z", "platform": "x", "account_id": "a",
        "post_id": "p"}
print(json.dumps({"schema_dir": str(SCHEMA_DIR), "valid": decode(like),
                  "invalid": decode({**like, "platform": "myspace"})}))
"""


@pytest.mark.package
def test_the_wheel_installs_into_a_fresh_virtualenv_and_works_outside_the_checkout(tmp_path):
    # What the image's build stage copies (the link streams/schemas kept a link), dev tooling included:
    # the package's configuration, not a copy that lacks it, must leave it out.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("streams", "schemas"):
        shutil.copytree(REPO / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", tmp_path / "dist", source],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    [wheel] = (tmp_path / "dist").glob("engagement_streams-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if n.startswith("streams/devtools")] == []
    assert sorted(n for n in names if n.startswith("streams/schemas/")) == sorted(
        f"streams/schemas/{p.name}" for p in (REPO / "schemas").glob("*.json")
    )

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)  # no system site-packages
    subprocess.run([venv / "bin" / "pip", "install", "-q", wheel], check=True, cwd=tmp_path, timeout=600)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "KAFKA_BOOTSTRAP_SERVERS") and not k.startswith("ENGAGEMENT_")
    }

    def run(*argv) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=outside, env=env, capture_output=True, text=True, timeout=120)

    checked = run(venv / "bin" / "python", "-c", CHECK_INSTALLED)
    assert checked.returncode == 0, checked.stderr
    result = json.loads(checked.stdout)
    assert Path(result["schema_dir"]).is_relative_to(venv)  # the wheel's copy, not the checkout's
    assert result["valid"] == [["like"], []]
    assert result["invalid"] == [[], ["schema:platform"]]
    version = run(venv / "bin" / "engagement", "--version")
    assert (version.returncode, version.stdout) == (0, f"engagement {PYPROJECT['project']['version']}\n")
    devtool = run(venv / "bin" / "engagement", "run")
    assert (devtool.returncode, devtool.stderr) == (
        1,
        "engagement: streams.devtools is dev tooling, not installed here (use a checkout: make run)\n",
    )
