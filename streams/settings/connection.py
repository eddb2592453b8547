"""How the service reaches Kafka: the first fields of ``Settings`` (``model``), which inherits them."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import doc


@dataclass(frozen=True)
class KafkaConnection:
    kafka_bootstrap_servers: str = doc(
        "Kafka bootstrap servers (env `KAFKA_BOOTSTRAP_SERVERS`, no prefix). Empty: the project starts "
        "its embedded broker.",
        default="",
    )
    kafka_security_protocol: str = doc(
        "How clients reach Kafka: PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL (README: Authenticated connections).",
        default="PLAINTEXT",
    )
    kafka_sasl_mechanism: str = doc(
        "SASL mechanism for SASL_*: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.", default="SCRAM-SHA-512"
    )
    kafka_sasl_username: str = doc("SASL user name (SASL_* only).", default="")
    kafka_sasl_password: str = doc(
        "SASL password (SASL_* only). Secret: never printed, not in repr().", default="", repr=False, secret=True
    )
    kafka_ssl_cafile: str = doc(
        "PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL; empty: the system's CAs).", default=""
    )
    kafka_ssl_certfile: str = doc("PEM client certificate for mutual TLS (SSL, SASL_SSL; empty: none).", default="")
    kafka_ssl_keyfile: str = doc("PEM private key of the client certificate (empty: in the certfile).", default="")
