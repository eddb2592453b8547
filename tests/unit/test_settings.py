"""The settings' checks: each value outside what its field takes, and each ENGAGEMENT_* variable that
names no setting, is refused with one line naming the variable (and how they are parsed)."""

from __future__ import annotations

import dataclasses

import pytest

from streams.settings import Settings, SettingsError, env_name, markdown_table
from tests.fixtures.paths import REPO

README = REPO / "README.md"


@pytest.mark.parametrize(
    "name, refused, shown, accepted, allowed",
    [
        ("ENGAGEMENT_WEB_PORT", "0", "0", "1", "1..65535"),
        ("ENGAGEMENT_WEB_PORT", "65536", "65536", "65535", "1..65535"),
        ("ENGAGEMENT_TOPIC_PARTITIONS", "0", "0", "1", ">= 1"),
        ("ENGAGEMENT_TOPIC_REPLICATION", "-1", "-1", "3", ">= 1"),
        ("ENGAGEMENT_WINDOW_SECONDS", "0", "0", "1", ">= 1"),
        ("ENGAGEMENT_WINDOW_GRACE_SECONDS", "-0.5", "-0.5", "0", ">= 0"),
        ("ENGAGEMENT_COMMIT_INTERVAL_SECONDS", "0", "0.0", "0.01", "> 0"),
        ("ENGAGEMENT_DEDUP_HORIZON_SECONDS", "nan", "nan", "1", "> 0"),
        ("ENGAGEMENT_MAX_ACCOUNT_SERIES", "-1", "-1", "0", ">= 0"),
        ("ENGAGEMENT_SIMULATE_RATE", "-5", "-5.0", "0.5", "> 0"),
        ("ENGAGEMENT_LOG_LEVEL", "INFO", "INFO", "info", "one of crit, error, warn, info, debug"),
        (
            "ENGAGEMENT_ENGAGED_TYPES",
            "like,lkie",
            "like,lkie",
            "like,reply",
            "one or more interaction types of the event schema",
        ),
        ("ENGAGEMENT_ENGAGED_TYPES", " , ", "", "share", "one or more interaction types of the event schema"),
        ("ENGAGEMENT_POST_LIFETIME_AGES_SECONDS", "3600,soon", "3600,soon", "60,3600.5", "numbers of seconds > 0"),
        ("ENGAGEMENT_POST_LIFETIME_AGES_SECONDS", "0,60", "0,60", "60", "numbers of seconds > 0"),
        (
            "ENGAGEMENT_TOPIC_DLQ",
            "dead letters",
            "dead letters",
            "dead-letters_1.x",
            "a Kafka topic name: 1 to 249 of a-z A-Z 0-9 . _ -",
        ),
        ("ENGAGEMENT_TOPIC_STATE", "..", "..", "a" * 249, "a Kafka topic name: 1 to 249 of a-z A-Z 0-9 . _ -"),
        ("ENGAGEMENT_APP_ID", "", "", "x", "not empty"),
        (
            "ENGAGEMENT_ADVERTISED_URL",
            "worker-1:6066",
            "worker-1:6066",
            "http://worker-1:6066",
            "empty, or an http:// or https:// URL",
        ),
    ],
)
def test_a_value_outside_its_check_is_refused(name, refused, shown, accepted, allowed):
    Settings.from_env({name: accepted})
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({name: refused})
    assert str(exc.value) == f"{name}={shown!r}: must be {allowed}"


def test_every_problem_on_one_line_and_overrides_checked_too():
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"ENGAGEMENT_WEB_PORT": "0"}, topic_partitions=0)
    assert str(exc.value) == (
        "ENGAGEMENT_TOPIC_PARTITIONS='0': must be >= 1; ENGAGEMENT_WEB_PORT='0': must be 1..65535"
    )


def test_a_number_setting_without_a_check_is_a_choice():
    """Every int and float setting says what it takes, but the simulator's seed (any int will do)."""
    unchecked = {
        f.name
        for f in dataclasses.fields(Settings)
        if f.type in ("int", "float", int, float) and f.metadata["check"] is None
    }
    assert unchecked == {"simulate_seed"}


def test_an_unknown_variable_is_refused_with_the_closest_name():
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"ENGAGEMENT_WEB_PROT": "7000", "ENGAGEMENT_WEB_HOST": "0.0.0.0"})
    assert str(exc.value) == "ENGAGEMENT_WEB_PROT is not a setting (did you mean ENGAGEMENT_WEB_PORT?)"
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"ENGAGEMENT_KAFKA_BOOTSTRAP_SERVERS": "h:1", "ENGAGEMENT_ZZZ": "1"})
    assert str(exc.value) == (
        "ENGAGEMENT_KAFKA_BOOTSTRAP_SERVERS is not a setting (did you mean "
        "KAFKA_BOOTSTRAP_SERVERS?); ENGAGEMENT_ZZZ is not a setting "
        "(`engagement settings` lists the settings)"
    )


def test_kubernetes_service_links_are_not_taken_for_typos():
    """A pod gets these for the worker's Service (engagement-worker) without asking."""
    links = {
        "ENGAGEMENT_WORKER_SERVICE_HOST": "10.0.0.7",
        "ENGAGEMENT_WORKER_SERVICE_PORT": "6066",
        "ENGAGEMENT_WORKER_SERVICE_PORT_HTTP_METRICS": "6066",
        "ENGAGEMENT_WORKER_PORT": "tcp://10.0.0.7:6066",
        "ENGAGEMENT_WORKER_PORT_6066_TCP": "tcp://10.0.0.7:6066",
        "ENGAGEMENT_WORKER_PORT_6066_TCP_PROTO": "tcp",
        "ENGAGEMENT_WORKER_PORT_6066_TCP_PORT": "6066",
        "ENGAGEMENT_WORKER_PORT_6066_TCP_ADDR": "10.0.0.7",
    }
    assert Settings.from_env(links) == Settings()
    with pytest.raises(SettingsError, match="ENGAGEMENT_WEBB_PORT is not a setting"):
        Settings.from_env({**links, "ENGAGEMENT_WEBB_PORT": "7000"})


def test_shown_env_masks_a_secret_that_is_set():
    shown = Settings.from_env({"ENGAGEMENT_KAFKA_SASL_PASSWORD": "hunter2", "ENGAGEMENT_WEB_PORT": "7000"}).shown_env()
    assert shown["ENGAGEMENT_KAFKA_SASL_PASSWORD"] == "********"
    assert shown["ENGAGEMENT_WEB_PORT"] == "7000"
    assert Settings().shown_env() == Settings().as_env()  # no secret set: nothing to mask


def test_the_table_says_what_each_setting_takes_and_the_readme_has_it():
    rows = markdown_table().splitlines()
    assert rows[0] == "| variable | default | allowed | meaning |"
    assert "| `ENGAGEMENT_WEB_PORT` | `6066` | 1..65535 | Port of the worker's HTTP server. |" in rows
    assert "| `ENGAGEMENT_LOG_LEVEL` | `warn` | one of crit, error, warn, info, debug | Worker log level. |" in rows
    assert len(rows) == 2 + len(dataclasses.fields(Settings))
    assert markdown_table() in README.read_text(), "README's settings table: engagement settings --markdown"


# -- parsing ----------------------------------------------------------------------------------------
def test_settings_come_from_prefixed_environment():
    settings = Settings.from_env(
        {
            "ENGAGEMENT_TOPIC_PARTITIONS": "3",
            "KAFKA_BOOTSTRAP_SERVERS": "h:1",
            "ENGAGEMENT_ENGAGED_TYPES": "like, share",
            "ENGAGEMENT_WINDOW_GRACE_SECONDS": "2.5",
        }
    )
    assert settings.topic_partitions == 3
    assert settings.kafka_bootstrap_servers == "h:1"
    assert settings.engaged_types == ("like", "share")
    assert settings.window_grace_seconds == 2.5
    assert Settings.from_env(settings.as_env()) == settings
    with pytest.raises(ValueError, match="ENGAGEMENT_TOPIC_PARTITIONS"):
        Settings.from_env({"ENGAGEMENT_TOPIC_PARTITIONS": "eight"})


def test_readme_documents_every_setting():
    readme = README.read_text()
    for line in markdown_table().splitlines()[2:]:
        name = line.split("`")[1]
        assert f"`{name}`" in readme, f"{name} missing from the README's settings table"
    assert env_name("web_port") == "ENGAGEMENT_WEB_PORT"
