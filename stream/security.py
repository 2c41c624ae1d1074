"""Kafka authentication and encryption for every client, from one place.

`client_kwargs(settings)` returns the keyword arguments that every aiokafka
client (producer, consumer, admin) of riskstream is built with: bootstrap
servers and, where configured, TLS (an `ssl.SSLContext` verifying the broker
against `KAFKA_SSL_CAFILE`, optionally with a client certificate) and SASL
(SCRAM-SHA-512 by default).  `faust_broker_credentials(settings)` is the same
for faust's `broker_credentials` app setting.

>>> from riskstream.settings import Settings
>>> client_kwargs(Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092"}))
{'bootstrap_servers': 'k1:9092', 'security_protocol': 'PLAINTEXT'}
>>> kw = client_kwargs(Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
...     "KAFKA_SASL_USERNAME": "worker", "KAFKA_SASL_PASSWORD": "s3cret"}))
>>> kw["sasl_mechanism"], kw["sasl_plain_username"], redacted(kw)["sasl_plain_password"]
('SCRAM-SHA-512', 'worker', '**********')

The password is revealed only into the kwargs handed to the client; log
`redacted(kwargs)`, never the kwargs.
"""

from __future__ import annotations

import ssl
from typing import Any

from riskstream.settings import KafkaSecuritySettings, Settings

_SECRET_KEYS = frozenset({"sasl_plain_password"})


def ssl_context(sec: KafkaSecuritySettings) -> ssl.SSLContext:
    """A client TLS context: verifies the broker (CA file or system store), TLS 1.2+."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                      cafile=str(sec.ssl_cafile) if sec.ssl_cafile else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = sec.ssl_check_hostname
    if sec.ssl_certfile is not None:
        ctx.load_cert_chain(str(sec.ssl_certfile), str(sec.ssl_keyfile) if sec.ssl_keyfile else None)
    return ctx


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
    sec = settings.kafka.security
    kw: dict[str, Any] = {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "security_protocol": sec.security_protocol,
    }
    if sec.uses_tls:
        kw["ssl_context"] = ssl_context(sec)
    if sec.uses_sasl:
        kw["sasl_mechanism"] = sec.sasl_mechanism
        kw["sasl_plain_username"] = sec.sasl_username
        kw["sasl_plain_password"] = sec.sasl_password.reveal()
    return kw


def redacted(kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` fit for a log line: secrets masked."""
    return {k: ("**********" if k in _SECRET_KEYS else v) for k, v in kwargs.items()}


def faust_broker_credentials(settings: Settings) -> Any:
    """faust's `broker_credentials` (None for PLAINTEXT): SASL over TLS, SASL, or TLS only.

    >>> faust_broker_credentials(Settings.from_env({})) is None
    True
    """
    sec = settings.kafka.security
    if not (sec.uses_sasl or sec.uses_tls):
        return None
    import faust
    from faust.types.auth import SASLMechanism

    if not sec.uses_sasl:
        return faust.SSLCredentials(ssl_context(sec))
    return faust.SASLCredentials(
        username=sec.sasl_username,
        password=sec.sasl_password.reveal(),
        ssl_context=ssl_context(sec) if sec.uses_tls else None,
        mechanism=SASLMechanism(sec.sasl_mechanism),
    )
