"""A real single-node Apache Kafka (KRaft, broker+controller) without Docker.

Apache's own jars are resolved from Maven Central by `deploy/kafka/pom.xml`
into a cache directory (once), the KRaft storage is formatted with
`kafka.tools.StorageTool`, and `kafka.Kafka` is started on free loopback
ports.  `LocalKafka.start()` returns once the broker answers a metadata
request; `stop()` shuts it down cleanly (SIGTERM, then SIGKILL after a grace
period).

With `sasl_users`, the client listener is SASL_SSL (SCRAM-SHA-512 over
TLS 1.2+): a throw-away CA and a broker certificate for 127.0.0.1/localhost
are generated with the JDK's keytool into `data_dir/tls` (`ca_file` is the CA
a client verifies the broker with), the SCRAM credentials are written into
the KRaft metadata when the storage is formatted (`--add-scram`), and the
broker talks to itself over the same listener as user `broker`.

Used by `riskstream kafka up|down|status`, by `scripts/demo.sh` and by the
integration-test fixtures.  Where `KAFKA_BOOTSTRAP_SERVERS` is set, callers use
that cluster instead and never start one.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from riskstream.resources import cache_home, kafka_resolution_dir

POM = kafka_resolution_dir() / "pom.xml"
LOG4J = kafka_resolution_dir() / "log4j2.properties"
DEFAULT_VERSION = "4.1.1"


class KafkaLaunchError(RuntimeError):
    pass


def cache_dir() -> Path:
    return cache_home()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def resolve_jars(version: str = DEFAULT_VERSION, quiet: bool = False) -> Path:
    """Download Kafka's jars (and a log4j2 backend) into the cache, once."""
    libs = cache_dir() / "kafka" / version / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise KafkaLaunchError("java and mvn are needed to fetch Kafka's jars (Java 17+, Maven 3)")
    libs.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"[kafka] resolving Apache Kafka {version} jars from Maven Central into {libs} ...",
              file=sys.stderr, flush=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(POM), f"-Dkafka.version={version}",
        "dependency:copy-dependencies", f"-DoutputDirectory={libs}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KafkaLaunchError(f"maven could not resolve Kafka {version}:\n{proc.stdout}\n{proc.stderr}")
    marker.write_text(version)
    return libs


def _cluster_id() -> str:
    """A KRaft cluster id (URL-safe base64 of 16 random bytes) that never starts with "-".

    One id in 64 would otherwise begin with "-", and the storage tool's argument
    parser reads it as an option ("--cluster-id: expected one argument"): a broker
    that failed to start about once in 64 test runs.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass
class LocalKafka:
    """One broker+controller process on loopback, with its data in `data_dir`."""

    data_dir: Path
    version: str = DEFAULT_VERSION
    port: int = 0
    controller_port: int = 0
    heap: str = "768m"
    proc: subprocess.Popen[bytes] | None = None
    pid: int | None = None
    sasl_users: dict[str, str] | None = None  # user -> password; None: a PLAINTEXT listener
    _broker_password: str = ""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secured(self) -> bool:
        return self.sasl_users is not None

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def ca_file(self) -> Path:
        """PEM of the CA that signed the broker's certificate (for KAFKA_SSL_CAFILE)."""
        return self.tls_dir / "ca.pem"

    def client_env(self, user: str, password: str) -> dict[str, str]:
        """The environment a riskstream client needs for this broker."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}
        if self.secured:
            env.update({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                        "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": password,
                        "KAFKA_SSL_CAFILE": str(self.ca_file)})
        return env

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _write_config(self) -> Path:
        cfg = self.data_dir / "server.properties"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "24",
        }
        if self.secured:
            props.update(self._secure_props())
        cfg.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return cfg

    def _secure_props(self) -> dict[str, str]:
        store = self.tls_dir / "broker.p12"
        pw = (self.tls_dir / "store.pass").read_text().strip()
        jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                f'username="broker" password="{self._broker_password}";')
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(store),
            "ssl.keystore.password": pw,
            "ssl.key.password": pw,
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": str(self.tls_dir / "trust.p12"),
            "ssl.truststore.password": pw,
            "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
            "ssl.client.auth": "none",
        }

    def _make_certificates(self) -> None:
        """A CA, and a broker key and certificate for 127.0.0.1 and localhost it signed (keytool)."""
        if shutil.which("keytool") is None:
            raise KafkaLaunchError("keytool (part of the JDK) is needed for a SASL_SSL listener")
        d = self.tls_dir
        d.mkdir(parents=True, exist_ok=True)
        if (d / "trust.p12").exists():
            return
        pw = secrets.token_urlsafe(16)
        (d / "store.pass").write_text(pw)
        (d / "store.pass").chmod(0o600)
        ca, broker, trust = str(d / "ca.p12"), str(d / "broker.p12"), str(d / "trust.p12")
        common = ["-storetype", "PKCS12", "-storepass", pw, "-keypass", pw]

        def keytool(*args: str, stdin: bytes | None = None) -> bytes:
            proc = subprocess.run(["keytool", *args], input=stdin, capture_output=True)
            if proc.returncode != 0:
                raise KafkaLaunchError(f"keytool {args[0]} failed: {proc.stderr.decode(errors='replace')}")
            return proc.stdout

        keytool("-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-validity", "3",
                "-dname", "CN=riskstream local test CA", "-ext", "bc:c", "-keystore", ca, *common)
        self.ca_file.write_bytes(keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca, *common))
        keytool("-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", "3",
                "-dname", "CN=localhost", "-keystore", broker, *common)
        csr = keytool("-certreq", "-alias", "broker", "-keystore", broker, *common)
        signed = keytool("-gencert", "-alias", "ca", "-keystore", ca, *common, "-rfc", "-validity", "3",
                         "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-ext", "EKU=serverAuth,clientAuth",
                         stdin=csr)
        (d / "broker.pem").write_bytes(signed)
        keytool("-importcert", "-noprompt", "-alias", "ca", "-file", str(self.ca_file), "-keystore", broker, *common)
        keytool("-importcert", "-noprompt", "-alias", "broker", "-file", str(d / "broker.pem"),
                "-keystore", broker, *common)
        keytool("-importcert", "-noprompt", "-alias", "ca", "-file", str(self.ca_file), "-keystore", trust, *common)

    def _scram_args(self) -> list[str]:
        users = {"broker": self._broker_password, **(self.sasl_users or {})}
        args: list[str] = []
        for name, password in users.items():
            args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return args

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            "java", f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseSerialGC",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp", f"{libs}/*", main, *args,
        ]

    def start(self, timeout: float = 90.0) -> LocalKafka:
        libs = resolve_jars(self.version)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        if self.secured:
            self._make_certificates()
            pw_file = self.tls_dir / "broker.pass"
            if not pw_file.exists():
                pw_file.write_text(secrets.token_urlsafe(16))
                pw_file.chmod(0o600)
            self._broker_password = pw_file.read_text().strip()
        cfg = self._write_config()
        cfg.chmod(0o600)  # holds the keystore and inter-broker passwords when secured
        if not (self.data_dir / "logs" / "meta.properties").exists():
            scram = self._scram_args() if self.secured else []
            fmt = subprocess.run(
                self._java(libs, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(cfg),
                           *scram),
                capture_output=True, text=True,
            )
            if fmt.returncode != 0:
                raise KafkaLaunchError(f"formatting KRaft storage failed:\n{fmt.stdout}\n{fmt.stderr}")
        log = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            self._java(libs, "kafka.Kafka", str(cfg)),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.pid = self.proc.pid
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise KafkaLaunchError(
                    f"broker exited with {self.proc.returncode}; last log lines:\n{self._tail()}"
                )
            if _log_says_started(self.log_file) and _port_open(self.port):
                return
            time.sleep(0.25)
        self.stop()
        raise KafkaLaunchError(f"broker not ready after {timeout:.0f}s; last log lines:\n{self._tail()}")

    def _tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 30.0) -> None:
        pid = self.proc.pid if self.proc is not None else self.pid
        if pid is None:
            return
        _terminate(pid, grace)
        if self.proc is not None:
            self.proc.wait(timeout=5)
        self.proc = None
        self.pid = None

    def kill(self) -> None:
        """Hard kill (for failure tests): no clean shutdown."""
        pid = self.proc.pid if self.proc is not None else self.pid
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait(timeout=10)

    # ---------------------------------------------------------------- CLI state

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({
            "pid": self.pid, "port": self.port, "controller_port": self.controller_port,
            "data_dir": str(self.data_dir), "version": self.version,
        }))

    @classmethod
    def load(cls, path: Path) -> LocalKafka:
        d = json.loads(path.read_text())
        return cls(data_dir=Path(d["data_dir"]), version=d["version"], port=d["port"],
                   controller_port=d["controller_port"], pid=d["pid"])

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return _port_open(self.port)


def _log_says_started(log: Path) -> bool:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return False
    return "Kafka Server started" in text or "[KafkaRaftServer nodeId=1] Kafka Server started" in text


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _terminate(pid: int, grace: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap if it is our child
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
