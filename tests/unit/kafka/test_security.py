"""Authenticated connections (SASL/SCRAM-SHA-512 on a broker of the test's own) and the hardened,
read-only HTTP API."""

from __future__ import annotations

import ssl

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.kafka.security import SecurityConfigError, faust_broker_credentials, kafka_client_config
from streams.settings import Settings, markdown_table
from tests.fixtures.kafka import SASL_PASSWORD, SASL_USER

# --- settings and client configuration (no broker) ---------------------------------------------------


def test_the_password_is_in_no_repr_nor_table_but_reaches_child_processes():
    settings = Settings.from_env(
        {
            "ENGAGEMENT_KAFKA_SASL_PASSWORD": SASL_PASSWORD,
            "ENGAGEMENT_KAFKA_SASL_USERNAME": SASL_USER,
            "ENGAGEMENT_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        }
    )
    assert settings.kafka_sasl_password == SASL_PASSWORD
    assert SASL_PASSWORD not in repr(settings) and SASL_PASSWORD not in str(settings)
    assert "kafka_sasl_password" not in repr(settings)
    assert "ENGAGEMENT_KAFKA_SASL_PASSWORD" in markdown_table()
    assert SASL_PASSWORD not in markdown_table()
    assert settings.as_env()["ENGAGEMENT_KAFKA_SASL_PASSWORD"] == SASL_PASSWORD  # how workers get it
    assert Settings.from_env(settings.as_env()) == settings
    assert repr(faust_broker_credentials(settings)).count(SASL_PASSWORD) == 0


def test_client_config_per_protocol(tmp_path):
    plain = Settings.from_env({})
    assert kafka_client_config(plain) == {} and faust_broker_credentials(plain) is None

    sasl = Settings.from_env(
        {}, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username=SASL_USER, kafka_sasl_password=SASL_PASSWORD
    )
    config = kafka_client_config(sasl)
    assert config == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": SASL_USER,
        "sasl_plain_password": SASL_PASSWORD,
    }
    # What Faust's own consumer and producer get from the credentials object is the same.
    faust_auth = credentials_to_aiokafka_auth(faust_broker_credentials(sasl))
    assert {k: v for k, v in faust_auth.items() if v is not None} == config

    sasl_ssl = Settings.from_env(
        {},
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username=SASL_USER,
        kafka_sasl_password=SASL_PASSWORD,
    )
    config = kafka_client_config(sasl_ssl)
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_mechanism"] == "SCRAM-SHA-256"
    assert isinstance(config["ssl_context"], ssl.SSLContext)
    assert config["ssl_context"].verify_mode == ssl.CERT_REQUIRED and config["ssl_context"].check_hostname
    faust_auth = credentials_to_aiokafka_auth(faust_broker_credentials(sasl_ssl))
    assert faust_auth["security_protocol"] == "SASL_SSL" and faust_auth["sasl_mechanism"] == "SCRAM-SHA-256"

    tls = Settings.from_env({}, kafka_security_protocol="SSL")
    config = kafka_client_config(tls)
    assert set(config) == {"security_protocol", "ssl_context"} and config["security_protocol"] == "SSL"
    assert credentials_to_aiokafka_auth(faust_broker_credentials(tls))["security_protocol"] == "SSL"

    with pytest.raises(SecurityConfigError, match="ENGAGEMENT_KAFKA_SECURITY_PROTOCOL"):
        kafka_client_config(Settings.from_env({}, kafka_security_protocol="TLS"))
    with pytest.raises(SecurityConfigError, match="ENGAGEMENT_KAFKA_SASL_MECHANISM"):
        kafka_client_config(
            Settings.from_env(
                {},
                kafka_security_protocol="SASL_PLAINTEXT",
                kafka_sasl_mechanism="MD5",
                kafka_sasl_username=SASL_USER,
                kafka_sasl_password=SASL_PASSWORD,
            )
        )
    with pytest.raises(SecurityConfigError, match="SASL_PASSWORD"):
        kafka_client_config(
            Settings.from_env({}, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username=SASL_USER)
        )
