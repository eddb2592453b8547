"""The `engagement` command line: --help and --version exit 0, every command has its own --help that
touches nothing, the worker's other options go on to Faust, and a setting it cannot start with is one
line on stderr and exit status 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import asynccontextmanager
from importlib.metadata import version

import pytest
from faust.cli.faust import cli as faust_cli

import streams.api.standby
import streams.kafka.topics
import streams.process_tuning
from streams.cli import main
from streams.settings import markdown_table

COMMANDS = ("worker", "simulate", "top", "settings", "broker", "run", "bench")


@pytest.fixture
def env(monkeypatch):
    """The process environment without any setting in it; the worker's process-wide tuning and its
    Kafka steps replaced by recorders (calls: what reached them)."""
    for name in list(os.environ):
        if name.startswith("ENGAGEMENT_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)
    calls: dict[str, list] = {"ensure_topics": [], "faust": []}

    async def ensure_topics(settings, client_config):
        calls["ensure_topics"].append(settings)

    @asynccontextmanager
    async def standby(host, port):
        calls.setdefault("standby", []).append((host, port))
        yield

    monkeypatch.setattr(streams.kafka.topics, "ensure_topics", ensure_topics)
    monkeypatch.setattr(streams.api.standby, "standby", standby)
    monkeypatch.setattr(faust_cli, "main", lambda args, **kw: calls["faust"].append(args))
    monkeypatch.setattr(streams.process_tuning, "tune_the_process", lambda: None)
    return calls


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return exited.value.code


def test_help_lists_every_command_with_what_it_does_and_exits_0(env, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per command
    assert _exit_code(["--help"]) == 0
    listed = re.findall(r"^    ([a-z]+) +([A-Z].+)$", capsys.readouterr().out, re.M)
    assert [name for name, _ in listed] == list(COMMANDS)


def test_version_exits_0_with_the_distributions_version(env, capsys):
    assert _exit_code(["--version"]) == 0
    assert capsys.readouterr().out == f"engagement {version('engagement-streams')}\n"


def test_no_command_is_a_usage_error(env, capsys):
    assert _exit_code([]) == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command, option",
    [
        ("worker", "--log-level"),
        ("simulate", "--rate"),
        ("top", "--alertmanager"),
        ("settings", "--markdown"),
        ("broker", "--data-dir"),
        ("run", "--duration"),
        ("bench", "--quick"),
    ],
)
def test_each_command_has_its_own_help_that_touches_nothing(command, option, env, capsys, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # the worker would go on to its topics
    assert _exit_code([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: engagement {command} ") and f"\n  {option}" in out
    assert env == {"ensure_topics": [], "faust": []}


def test_worker_options_are_parsed_and_the_others_go_on_to_faust(env, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["worker", "--web-port", "7000", "--log-level", "debug", "-l", "info"]) == 0
    assert env["faust"] == [["-A", "streams.api.app:app", "worker", "-l", "debug", "--web-port", "7000", "-l", "info"]]
    assert [s.kafka_bootstrap_servers for s in env["ensure_topics"]] == ["127.0.0.1:1"]
    assert env["standby"] == [("127.0.0.1", 6066)]  # the health while it waits for Kafka, on its own port
    monkeypatch.setenv("ENGAGEMENT_LOG_LEVEL", "error")
    assert main(["worker"]) == 0
    assert env["faust"][-1] == ["-A", "streams.api.app:app", "worker", "-l", "error"]


def test_other_commands_get_the_rest_of_the_line_as_given(env, monkeypatch):
    import streams.simulator

    given = []
    monkeypatch.setattr(streams.simulator, "main", lambda argv: given.append(argv) or 0)
    assert main(["simulate", "--rate=5", "--seed", "-3", "--", "x"]) == 0
    assert given == [["--rate=5", "--seed", "-3", "--", "x"]]


def test_a_typo_in_a_setting_is_one_line_and_status_2(env, capsys, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("ENGAGEMENT_WEB_PROT", "7000")
    for command in ("worker", "simulate"):
        assert main([command]) == 2
        assert capsys.readouterr().err == (
            f"engagement {command}: ENGAGEMENT_WEB_PROT is not a setting (did you mean ENGAGEMENT_WEB_PORT?)\n"
        )
    assert env == {"ensure_topics": [], "faust": []}


def test_a_value_out_of_range_is_one_line_and_status_2_from_the_console_script(tmp_path):
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ENGAGEMENT_")},
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "ENGAGEMENT_WEB_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "engagement worker: ENGAGEMENT_WEB_PORT='0': must be 1..65535\n"


def test_topics_that_do_not_fit_are_the_message_and_status_2(env, capsys, monkeypatch):
    async def mismatch(settings, client_config):
        raise streams.kafka.topics.TopicMismatch(["engagement.interactions: 3 partitions"])

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setattr(streams.kafka.topics, "ensure_topics", mismatch)
    assert main(["worker"]) == 2
    assert capsys.readouterr().err == (
        "engagement worker: the Kafka topics do not fit the service:\n  engagement.interactions: 3 partitions\n"
    )
    assert env["faust"] == []

    async def broken(settings, client_config):
        raise RuntimeError("not a configuration problem")

    monkeypatch.setattr(streams.kafka.topics, "ensure_topics", broken)
    with pytest.raises(RuntimeError):
        main(["worker"])


def test_a_security_protocol_kafka_has_not_is_one_line_and_status_2(env, capsys, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("ENGAGEMENT_KAFKA_SECURITY_PROTOCOL", "TLS")
    assert main(["worker"]) == 2
    assert capsys.readouterr().err == (
        "engagement worker: ENGAGEMENT_KAFKA_SECURITY_PROTOCOL='TLS': must be one "
        "of PLAINTEXT, SASL_PLAINTEXT, SASL_SSL, SSL\n"
    )
    assert env == {"ensure_topics": [], "faust": []}


def test_settings_prints_the_values_in_effect_or_the_table(env, capsys, monkeypatch):
    monkeypatch.setenv("ENGAGEMENT_WEB_PORT", "7000")
    monkeypatch.setenv("ENGAGEMENT_KAFKA_SASL_PASSWORD", "hunter2")
    assert main(["settings"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "ENGAGEMENT_WEB_PORT=7000" in lines and "ENGAGEMENT_KAFKA_SASL_PASSWORD=********" in lines
    assert "ENGAGEMENT_LOG_LEVEL=warn" in lines and not any("hunter2" in line for line in lines)
    assert main(["settings", "--markdown"]) == 0
    assert capsys.readouterr().out == markdown_table() + "\n"
    assert _exit_code(["settings", "--bogus"]) == 2
