"""The Kafka Streams peer's Java application (deploy/bench/kafka-streams/): built once per version of its
sources into a cache directory outside the repository (Maven fetches the jars, javac compiles), and
the command line that runs it."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...broker import file_lock
from ...paths import REPO

SOURCES = REPO / "deploy" / "bench" / "kafka-streams"
CACHE = Path.home() / ".cache" / "engagement"
MAIN_CLASS = "engagement.bench.WindowedCount"
HEAP = "1g"  # the JVM's default would be a quarter of the machine's memory


def pom_property(pom_text: str, name: str) -> str:
    found = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", pom_text)
    if found is None:
        raise ValueError(f"no <{name}> in the pom")
    return found.group(1)


def source_files(sources: Path = SOURCES) -> list[Path]:
    """What the build is made of: the pom and src/ (not a target/ that `mvn package` may leave)."""
    return [sources / "pom.xml", *sorted(p for p in (sources / "src").rglob("*") if p.is_file())]


def sources_digest(sources: Path = SOURCES) -> str:
    digest = hashlib.sha256()
    for path in source_files(sources):
        digest.update(str(path.relative_to(sources)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_dir(sources: Path = SOURCES, cache: Path = CACHE) -> Path:
    return cache / f"bench-kafka-streams-{sources_digest(sources)}"


def _main_class_file(build: Path) -> Path:
    return build / "classes" / (MAIN_CLASS.replace(".", "/") + ".class")


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def ensure_built(sources: Path = SOURCES, cache: Path = CACHE) -> Path:
    """The build directory (lib/ the jars, classes/ the compiled app), built unless it exists."""
    build = build_dir(sources, cache)
    if _main_class_file(build).exists():
        return build
    cache.mkdir(parents=True, exist_ok=True)
    with file_lock(cache / ".bench-kafka-streams.lock"):  # two benches building at once build once
        if _main_class_file(build).exists():
            return build
        # Built aside and renamed, so that an interrupted build never looks like a finished one.
        staging = Path(tempfile.mkdtemp(dir=cache, prefix="bench-kafka-streams-staging-"))
        try:
            _run(
                [
                    "mvn",
                    "-B",
                    "-q",
                    "-f",
                    str(sources / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging / 'lib'}",
                ]
            )
            java_sources = sorted(str(p) for p in (sources / "src" / "main" / "java").rglob("*.java"))
            _run(
                [
                    "javac",
                    "--release",
                    "17",
                    "-encoding",
                    "UTF-8",
                    "-d",
                    str(staging / "classes"),
                    "-cp",
                    f"{staging / 'lib'}/*",
                    *java_sources,
                ]
            )
            resources = sources / "src" / "main" / "resources"
            if resources.is_dir():
                shutil.copytree(resources, staging / "classes", dirs_exist_ok=True)
            shutil.rmtree(build, ignore_errors=True)
            staging.rename(build)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return build


def java_command(
    build: Path,
    variant: str,
    bootstrap: str,
    application_id: str,
    input_topic: str,
    output_topic: str,
    commit_interval_s: float,
    state_dir: Path,
) -> list[str]:
    if variant not in ("parsed", "unparsed"):
        raise ValueError(f"Kafka Streams variant {variant!r}: parsed or unparsed")
    return [
        "java",
        f"-Xmx{HEAP}",
        "-cp",
        f"{build / 'classes'}:{build / 'lib'}/*",
        MAIN_CLASS,
        variant,
        bootstrap,
        application_id,
        input_topic,
        output_topic,
        str(round(commit_interval_s * 1000)),
        str(state_dir),
    ]
