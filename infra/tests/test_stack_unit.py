"""Unit tests of the native stack's pieces: service list, ordering, config, .env."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from fraud_common.paths import repo_root
from fraud_infra import dotenv_init, supervisor_conf
from fraud_infra.envfiles import parse_env_file
from fraud_infra.services import Readiness, Service, expand, load_services, select, start_order
from fraud_infra.stack import Stack, StackError, probe

pytestmark = pytest.mark.unit

ENV = {
    "REPO": "/r",
    "STATE": "/s",
    "CACHE": "/c",
    "VENV": "/v",
    "PG_BIN": "/pg",
    "JAVA21_HOME": "/j",
}


def svc(name: str, *deps: str, ports: tuple[int, ...] = ()) -> Service:
    return Service(
        name=name,
        command=f"run {name}",
        ready=Readiness("tcp", "1"),
        depends_on=deps,
        ports=ports,
        groups=("g",),
    )


def test_expand_substitutes_and_refuses_unknown_variables() -> None:
    assert expand("${STATE}/x-${REPO}", ENV) == "/s/x-/r"
    assert expand("${NOPE:-42}/${STATE:-unused}", ENV) == "42//s"
    with pytest.raises(KeyError, match="NOPE"):
        expand("${NOPE}", ENV)


def test_start_order_puts_dependencies_first() -> None:
    services = {s.name: s for s in [svc("api", "db", "cache"), svc("db"), svc("cache", "db")]}
    assert start_order(services, ["api"]) == ["db", "cache", "api"]
    assert select(services, ["g"]) == ["db", "cache", "api"]


class _TimedStack(Stack):
    """Records when each start begins and ends instead of starting processes."""

    def __init__(self, services: dict[str, Service], fail: str = "") -> None:
        super().__init__(env=dict(ENV), services=services, state=Path("/nonexistent"))
        self.fail = fail
        self.spans: dict[str, tuple[float, float]] = {}

    def install(self, names: object) -> None:
        pass

    def ensure_daemon(self, starting: object = ()) -> None:
        pass

    def _start_one(self, name: str, failed: threading.Event) -> bool:
        begin = time.monotonic()
        time.sleep(0.2)
        if name == self.fail:
            raise StackError(f"{name}: boom")
        self.spans[name] = (begin, time.monotonic())
        return True


def test_up_starts_a_service_after_its_dependencies_and_independent_ones_together() -> None:
    services = {
        s.name: s for s in [svc("db"), svc("broker"), svc("api", "db"), svc("ui", "api", "broker")]
    }
    stack = _TimedStack(services)
    assert sorted(stack.up(["g"])) == ["api", "broker", "db", "ui"]
    spans = stack.spans
    for name, deps in (("api", ["db"]), ("ui", ["api", "broker"])):
        assert all(spans[name][0] >= spans[d][1] for d in deps), spans
    # db and broker have no dependency: their starts overlap
    assert spans["broker"][0] < spans["db"][1] and spans["db"][0] < spans["broker"][1]


def test_up_raises_the_first_failure_and_starts_nothing_that_needs_it() -> None:
    services = {s.name: s for s in [svc("db"), svc("api", "db"), svc("cache")]}
    stack = _TimedStack(services, fail="db")
    with pytest.raises(StackError, match="db: boom"):
        stack.up(["g"])
    assert "api" not in stack.spans


def test_cycles_and_unknown_names_are_errors() -> None:
    services = {s.name: s for s in [svc("a", "b"), svc("b", "a")]}
    with pytest.raises(ValueError, match="cycle"):
        start_order(services, ["a"])
    with pytest.raises(KeyError, match="no service or group"):
        select({"a": svc("a")}, ["zzz"])


def test_repository_service_list_is_valid_and_complete() -> None:
    env = {**ENV, "REPO": str(repo_root()), **parse_env_file(repo_root() / "versions.env")}
    env.update({k: "x" for k in parse_env_file(repo_root() / ".env.example")})
    services = load_services(repo_root() / "infra" / "native" / "services.yaml", env)
    core = set(select(services, ["core"]))
    assert {"postgres", "redis", "object-store", "prometheus"} <= core
    for s in services.values():
        # a process that listens on nothing (airflow-dag-processor) is checked by a command
        assert s.ports or s.ready.kind == "cmd", f"{s.name} declares no port"
        assert "${" not in s.command


def test_supervisor_config_has_one_program_per_service(tmp_path: Path) -> None:
    services = {s.name: s for s in [svc("db"), svc("api", "db")]}
    text = supervisor_conf.render(services, tmp_path, Path("/r"))
    assert text.count("[program:") == 2
    assert "autostart=false" in text and "killasgroup=true" in text
    assert str(supervisor_conf.log_path(tmp_path, "api")) in text


def test_port_in_use_is_reported_not_shared() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        stack = Stack(env=dict(ENV), services={}, state=Path("/nonexistent"))
        with pytest.raises(StackError, match=f"port {port} is already in use"):
            stack.check_ports(svc("x", ports=(port,)))
        assert probe(Readiness("tcp", str(port)), ENV)
    assert not probe(Readiness("tcp", str(port)), ENV)


def test_cmd_probe_uses_exit_status() -> None:
    assert probe(Readiness("cmd", "true"), ENV)
    assert not probe(Readiness("cmd", "exit 3"), ENV)


def test_make_init_generates_secrets_and_keeps_existing_ones(tmp_path: Path) -> None:
    example = tmp_path / ".env.example"
    example.write_text(
        "# c\nPOSTGRES_PASSWORD=\nAIRFLOW_FERNET_KEY=\nS3_ACCESS_KEY=\nBIND=127.0.0.1\n"
    )
    first, generated = dotenv_init.render(example, {})
    values = dict(line.split("=", 1) for line in first.splitlines() if "=" in line)
    assert set(generated) == {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "S3_ACCESS_KEY"}
    assert len(values["POSTGRES_PASSWORD"]) >= 24 and values["BIND"] == "127.0.0.1"
    assert len(values["S3_ACCESS_KEY"]) == 20 and values["S3_ACCESS_KEY"].isalnum()
    from cryptography.fernet import Fernet

    Fernet(values["AIRFLOW_FERNET_KEY"].encode())  # a valid Fernet key
    again, generated_again = dotenv_init.render(example, values)
    assert again == first and generated_again == []
    other, _ = dotenv_init.render(example, {})
    assert other != first  # fresh secrets each time


@pytest.mark.parametrize(
    "name", ["AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_FERNET_KEY", "SUPERSET_SECRET_KEY"]
)
def test_generated_secrets_never_look_like_a_command_line_option(name: str) -> None:
    # one in 64 url-safe values starts with "-": in CI `airflow users reset-password
    # --password -bJ4...` took it for an option and the Airflow setup failed
    values = [dotenv_init.generate_secret(name) for _ in range(3000)]
    assert not [v for v in values if v.startswith("-")]
    assert len(set(values)) == len(values)


def test_example_env_has_no_usable_default_secret() -> None:
    example = parse_env_file(repo_root() / ".env.example")
    for key, value in example.items():
        if any(word in key for word in ("PASSWORD", "SECRET", "FERNET", "ACCESS_KEY")):
            assert value == "", f"{key} has a default value in .env.example"


def test_platform_settings_read_dotenv_under_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraud_common.settings import PlatformSettings

    for name in ("S3_ACCESS_KEY", "S3_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "S3_ACCESS_KEY=from-dotenv\nS3_SECRET_KEY=s\nPOSTGRES_PASSWORD=p\nREDIS_PASSWORD=r\n"
        "S3_BUCKET=dotenv-bucket\n"
    )
    monkeypatch.setenv("S3_BUCKET", "env-bucket")
    settings = PlatformSettings()  # type: ignore[call-arg]
    assert settings.s3_access_key.get_secret_value() == "from-dotenv"
    assert settings.s3_bucket == "env-bucket"  # the process environment wins
