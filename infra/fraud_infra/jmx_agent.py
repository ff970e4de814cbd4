"""``fraud-init jmx-agent``: the Prometheus JMX exporter java agent for compose's Kafka.

Downloads ``io.prometheus.jmx:jmx_prometheus_javaagent:$JMX_EXPORTER_VERSION`` from Maven
Central into ``$JMX_AGENT_DIR/jmx_prometheus_javaagent.jar`` (a volume the ``kafka``
service mounts and loads with ``-javaagent``), checked against the repository's SHA-1.
Idempotent: a jar of that version already there is kept. The native stack fetches the
same artifact with Maven (infra/native/install/kafka.sh).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import requests
import structlog

log = structlog.get_logger(__name__)

GROUP_PATH = "io/prometheus/jmx"
ARTIFACT = "jmx_prometheus_javaagent"
JAR = f"{ARTIFACT}.jar"
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"


def artifact_url(version: str, repository: str = MAVEN_CENTRAL) -> str:
    return f"{repository.rstrip('/')}/{GROUP_PATH}/{ARTIFACT}/{version}/{ARTIFACT}-{version}.jar"


def ensure_agent(dest: Path, version: str, repository: str = MAVEN_CENTRAL) -> str:
    """Put the agent jar of ``version`` into ``dest``; returns "exists" or "downloaded"."""
    jar, marker = dest / JAR, dest / f"{JAR}.version"
    if jar.is_file() and marker.is_file() and marker.read_text().strip() == version:
        log.info("jmx agent present", path=str(jar), version=version)
        return "exists"
    url = artifact_url(version, repository)
    body = requests.get(url, timeout=120)
    body.raise_for_status()
    expected = requests.get(f"{url}.sha1", timeout=30)
    expected.raise_for_status()
    digest = hashlib.sha1(body.content, usedforsecurity=False).hexdigest()
    if digest != expected.text.split()[0].strip():
        raise RuntimeError(f"{url}: SHA-1 {digest} differs from the repository's")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".{JAR}.tmp"
    tmp.write_bytes(body.content)
    tmp.replace(jar)
    marker.write_text(version + "\n")
    log.info("jmx agent downloaded", path=str(jar), version=version, bytes=len(body.content))
    return "downloaded"


def main() -> int:
    version = os.environ.get("JMX_EXPORTER_VERSION")
    if not version:
        raise SystemExit("JMX_EXPORTER_VERSION is not set (versions.env)")
    dest = Path(os.environ.get("JMX_AGENT_DIR", "/opt/jmx-exporter"))
    ensure_agent(dest, version, os.environ.get("MAVEN_REPOSITORY_URL", MAVEN_CENTRAL))
    return 0
