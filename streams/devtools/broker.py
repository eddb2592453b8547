"""The embedded Apache Kafka broker: a real single-node KRaft Kafka (broker + controller) on Java 17.

Its jars come from Maven Central through ``deploy/kafka/pom.xml`` into a cache outside the repository.
``EmbeddedKafka`` picks free ports (9092 when free), formats the data directory on first use, waits
until the broker accepts clients and always stops it: the JVM gets SIGKILL from the kernel if the
Python process that started it dies (PR_SET_PDEATHSIG), so no ``java`` outlives its parent.

``EmbeddedKafka(sasl_users={"engagement": "secret"})`` adds a second listener, SASL_PLAINTEXT with
SCRAM-SHA-512 (``.sasl_bootstrap``), whose users are created when the data directory is formatted
(``kafka-storage format --add-scram``); the PLAINTEXT listener (``.bootstrap``) stays, for the
inter-broker and controller traffic and for tests that set things up without credentials.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ..settings import Settings
from .paths import REPO
from .processes import die_with_parent

POM = REPO / "deploy" / "kafka" / "pom.xml"
LOG4J_CONFIG = REPO / "deploy" / "kafka" / "log4j2.properties"
KAFKA_VERSION = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text()).group(1)  # type: ignore[union-attr]  # the pom names it
PREFERRED_PORT = 9092
# Serialises port choice and start-up between concurrent starts on one machine, so that two brokers
# started at the same moment never pick the same free port.
PORT_LOCK = Path(tempfile.gettempdir()) / "engagement-embedded-kafka.lock"
SASL_LISTENER = "SASL_PLAINTEXT"
SCRAM_MECHANISM = "SCRAM-SHA-512"
# Characters kafka-storage's --add-scram parser and the JAAS syntax take without quoting trouble.
_SCRAM_TEXT = re.compile(r"^[A-Za-z0-9._~!@#$%^&*()+=:;?/<>|{}-]{1,200}$")


def kafka_home() -> Path:
    configured = Settings.from_env().kafka_home
    return Path(configured) if configured else Path.home() / ".cache" / "engagement" / f"kafka-{KAFKA_VERSION}"


def ensure_jars() -> Path:
    """Fetch the broker's and the tools' jars with Maven unless the cache has them; returns the libs
    directory. A cache filled before a jar joined the pom lacks it, and is fetched again."""
    libs = kafka_home() / "libs"
    if _holds_every_jar(libs):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(libs.parent / ".fetch.lock"):
        if _holds_every_jar(libs):
            return libs
        staging = Path(tempfile.mkdtemp(dir=libs.parent, prefix="libs-"))
        cmd = ["mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
        print(f"fetching Apache Kafka {KAFKA_VERSION} jars: {' '.join(cmd)}", file=sys.stderr)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not _holds_every_jar(staging):
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
    return libs


def _holds_every_jar(libs: Path) -> bool:
    """The broker's jar and the tools' (ConsoleProducer), both named in the pom."""
    return all((libs / f"{name}-{KAFKA_VERSION}.jar").exists() for name in ("kafka_2.13", "kafka-tools"))


@contextlib.contextmanager
def file_lock(path: Path):
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the servers we start do: a port whose last connections linger in TIME_WAIT is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    # Something may listen on the wildcard address or on IPv6 only; a connect tells.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kafka_uuid() -> str:
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


class BrokerError(RuntimeError):
    pass


class EmbeddedKafka:
    """A real Kafka broker in a child JVM. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | os.PathLike | None = None,
        heap: str = "512m",
        extra_config: dict[str, str] | None = None,
        listeners: dict[str, str] | None = None,
        jvm_options: list[str] | None = None,
        sasl_users: dict[str, str] | None = None,
    ):
        self.requested_port = port
        self.data_dir = Path(data_dir) if data_dir else None
        self._temp_data = data_dir is None
        self.heap = heap
        self.extra_config = dict(extra_config or {})
        self.jvm_options = list(jvm_options or [])
        self.sasl_users = dict(sasl_users or {})
        for name, password in self.sasl_users.items():
            if not _SCRAM_TEXT.match(name) or not _SCRAM_TEXT.match(password):
                raise ValueError(
                    f"SASL user {name!r}: name and password must be 1-200 characters, "
                    "letters, digits or punctuation other than quotes, commas, brackets, "
                    "backslashes and spaces"
                )
        self.port: int | None = None
        self.sasl_port: int | None = None
        self.controller_port: int | None = None
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """The SASL_PLAINTEXT (SCRAM-SHA-512) listener; only with sasl_users."""
        if not self.sasl_users:
            raise BrokerError("this broker has no SASL listener (EmbeddedKafka(sasl_users=...))")
        return f"127.0.0.1:{self.sasl_port}"

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 90.0) -> EmbeddedKafka:
        libs = ensure_jars()
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="engagement-kafka-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(PORT_LOCK):
            self.port = self._choose_port()
            self.controller_port = free_port()
            self.sasl_port = self._free_port_besides(self.port, self.controller_port) if self.sasl_users else None
            config = self._write_config()
            if not (self.data_dir / "logs" / "meta.properties").exists():
                self._format(libs, config)
            self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
            log = open(self.log_path, "ab")
            cmd = [
                "java",
                f"-Xmx{self.heap}",
                f"-Xms{self.heap}",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                *self.jvm_options,
                "-cp",
                f"{libs}/*",
                "kafka.Kafka",
                str(config),
            ]
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
            )
            log.close()
            try:
                self._wait_ready(timeout)
            except BaseException:
                self.stop()
                raise
        return self

    def _choose_port(self) -> int:
        if self.requested_port:
            if not port_is_free(self.requested_port):
                raise BrokerError(f"port {self.requested_port} is already in use")
            return self.requested_port
        return PREFERRED_PORT if port_is_free(PREFERRED_PORT) else free_port()

    @staticmethod
    def _free_port_besides(*taken: int) -> int:
        while True:
            port = free_port()
            if port not in taken:
                return port

    def _write_config(self) -> Path:
        assert self.data_dir is not None  # set by start()
        logs = self.data_dir / "logs"
        config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(logs),
            "num.partitions": "8",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "group.initial.rebalance.delay.ms": "0",
            # Oversized input must reach the worker so that it lands in the DLQ as too_large.
            "message.max.bytes": str(16 * 1024 * 1024),
            "replica.fetch.max.bytes": str(16 * 1024 * 1024),
            "log.retention.hours": "24",
            "log.segment.bytes": str(64 * 1024 * 1024),
        }
        if self.sasl_users:
            listener = SASL_LISTENER.lower()
            config["listeners"] += f",{SASL_LISTENER}://127.0.0.1:{self.sasl_port}"
            config["advertised.listeners"] += f",{SASL_LISTENER}://127.0.0.1:{self.sasl_port}"
            config["listener.security.protocol.map"] += f",{SASL_LISTENER}:SASL_PLAINTEXT"
            config["sasl.enabled.mechanisms"] = SCRAM_MECHANISM
            config[f"listener.name.{listener}.sasl.enabled.mechanisms"] = SCRAM_MECHANISM
            # Server side of SCRAM: the credentials live in the cluster metadata, not in this file.
            config[f"listener.name.{listener}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        config.update(self.extra_config)
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        return path

    def _format(self, libs: Path, config: Path) -> None:
        cmd = [
            "java",
            "-Xmx256m",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{libs}/*",
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            _kafka_uuid(),
            "-c",
            str(config),
        ]
        for name, password in self.sasl_users.items():
            cmd += ["--add-scram", f'{SCRAM_MECHANISM}=[name="{name}",password="{password}"]']
        result = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=die_with_parent)
        if result.returncode != 0:
            output = f"{result.stdout}{result.stderr}"
            for password in self.sasl_users.values():
                output = output.replace(password, "***")
            raise BrokerError(f"formatting {self.data_dir} failed: {output}")

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None and self.port is not None  # set by start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(
                    f"Kafka exited with {self.process.returncode}; log {self.log_path}:\n" + self.log_tail()
                )
            if (
                "Kafka Server started" in self.log_tail(200_000)
                and not port_is_free(self.port)
                and (self.sasl_port is None or not port_is_free(self.sasl_port))
            ):
                return
            time.sleep(0.2)
        raise BrokerError(f"Kafka did not start within {timeout}s; log {self.log_path}:\n" + self.log_tail())

    def log_tail(self, size: int = 4000) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as fh:
            fh.seek(max(0, self.log_path.stat().st_size - size))
            return fh.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 30.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._temp_data and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if self.log_path:
                self.log_path.unlink(missing_ok=True)


def serve(port: int | None, data_dir: str | None) -> int:
    """`engagement broker`: run in the foreground until SIGINT or SIGTERM."""
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    broker = EmbeddedKafka(port=port, data_dir=data_dir)
    broker.start()
    try:
        print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}", flush=True)
        assert broker.process is not None  # started
        print(
            f"Apache Kafka {KAFKA_VERSION} (KRaft) pid {broker.process.pid}, data {broker.data_dir}, "
            f"log {broker.log_path}",
            flush=True,
        )
        while not stop and broker.process.poll() is None:
            time.sleep(0.2)
        return 0 if stop else 1
    finally:
        broker.stop()


if __name__ == "__main__":  # `python -m streams.devtools.broker --fetch` is the bootstrap's jar step.
    if sys.argv[1:] == ["--fetch"]:
        print(ensure_jars())
    else:
        sys.exit("usage: python -m streams.devtools.broker --fetch")
