"""Authenticated, encrypted connections to Kafka: the settings ``ENGAGEMENT_KAFKA_SECURITY_PROTOCOL``,
``..._SASL_*`` and ``..._SSL_*`` turned into what aiokafka's clients and Faust's app take.

- ``kafka_client_config(settings)``: keyword arguments for every AIOKafkaConsumer, AIOKafkaProducer
  and AIOKafkaAdminClient the service makes (the engine, the account book, the simulator, topic
  creation); ``{}`` for PLAINTEXT, so that the default changes nothing.
- ``faust_broker_credentials(settings)``: ``faust.App(broker_credentials=...)``, for the consumer and
  producer Faust itself keeps. ``faust.SASLCredentials`` takes any ``SASLMechanism`` (SCRAM-SHA-512
  included) and faust's aiokafka driver passes ``mechanism.value`` as ``sasl_mechanism``; it switches
  to SASL_SSL exactly when it is given an ``ssl_context``.

The password is only ever handed to the client libraries: nothing here logs or formats it.
"""

from __future__ import annotations

import ssl

from ..settings import Settings

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class SecurityConfigError(ValueError):
    pass


def _protocol(settings: Settings) -> str:
    protocol = settings.kafka_security_protocol.strip().upper()
    if protocol not in PROTOCOLS:
        raise SecurityConfigError(
            f"ENGAGEMENT_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol!r}: "
            f"must be one of {', '.join(PROTOCOLS)}"
        )
    if protocol.startswith("SASL_"):
        mechanism = settings.kafka_sasl_mechanism.strip().upper()
        if mechanism not in SASL_MECHANISMS:
            raise SecurityConfigError(
                f"ENGAGEMENT_KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism!r}: "
                f"must be one of {', '.join(SASL_MECHANISMS)}"
            )
        if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
            raise SecurityConfigError(
                f"{protocol} needs ENGAGEMENT_KAFKA_SASL_USERNAME and ENGAGEMENT_KAFKA_SASL_PASSWORD"
            )
    return protocol


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (server certificate and host name verified), else None."""
    if _protocol(settings) not in ("SSL", "SASL_SSL"):
        return None
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(
        cafile=settings.kafka_ssl_cafile or None,
        certfile=settings.kafka_ssl_certfile or None,
        keyfile=settings.kafka_ssl_keyfile or None,
    )


def kafka_client_config(settings: Settings) -> dict:
    """aiokafka client keyword arguments for the configured protocol; {} for PLAINTEXT."""
    protocol = _protocol(settings)
    if protocol == "PLAINTEXT":
        return {}
    config: dict = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        config.update(
            sasl_mechanism=settings.kafka_sasl_mechanism.strip().upper(),
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    return config


def faust_broker_credentials(settings: Settings):
    """What ``faust.App(broker_credentials=...)`` takes: None for PLAINTEXT, faust.SSLCredentials for
    SSL, faust.SASLCredentials for SASL_PLAINTEXT / SASL_SSL (SASL_SSL when it has an ssl_context)."""
    protocol = _protocol(settings)
    if protocol == "PLAINTEXT":
        return None
    import faust

    context = ssl_context(settings)
    if protocol == "SSL":
        # Given a ready context: faust.SSLCredentials(cafile=...) without an explicit ``purpose``
        # cannot build one (ssl.create_default_context(purpose=None) raises TypeError).
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        mechanism=settings.kafka_sasl_mechanism.strip().upper(),
        ssl_context=context,
    )
