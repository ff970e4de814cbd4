"""``fraud-stack``: run the platform's engines natively under supervisord.

    fraud-stack up [SERVICE|GROUP ...]     install, start in dependency order, wait ready
    fraud-stack down                       stop everything this stack started
    fraud-stack status                     state, readiness and URL of every service
    fraud-stack logs [SERVICE ...] [-f]    tail the services' logs
    fraud-stack clean                      down, then remove the state directory
    fraud-stack install [SERVICE|GROUP ...]  only run the installers

The service list is ``infra/native/services.yaml``; process supervision (spawning,
signals, process groups, log files) is supervisord's, this module only orders the
starts and waits on readiness checks.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from fraud_common.paths import cache_dir, repo_root
from fraud_infra import supervisor_conf
from fraud_infra.envfiles import platform_env
from fraud_infra.paths import state_dir
from fraud_infra.services import Readiness, Service, load_services, select

DEFAULT_GROUP = "core"
_FAILED_STATES = {"EXITED", "FATAL", "BACKOFF", "STOPPED", "UNKNOWN"}


class StackError(RuntimeError):
    """A service could not be brought up; the message names it and shows its log."""


class _DependencyFailedError(RuntimeError):
    """Not started because a service it depends on (or another start) failed."""


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def stack_env() -> dict[str, str]:
    """Everything ``services.yaml`` may reference, also the environment of the services."""
    env = platform_env()
    pg_major = env.get("POSTGRES_VERSION", "15").split(".")[0]
    env.update(
        REPO=str(repo_root()),
        CACHE=str(cache_dir()),
        STATE=str(state_dir()),
        VENV=sys.prefix,
        PG_BIN=env.get("PG_BIN", f"/usr/lib/postgresql/{pg_major}/bin"),
        FRAUD_STATE_DIR=str(state_dir()),
    )
    env.setdefault("JAVA21_HOME", newest_jdk(21))
    return env


def newest_jdk(minimum: int) -> str:
    """The newest JDK under /usr/lib/jvm with at least ``minimum`` as major version.

    Java 17 stays the machine default; engines that need a newer Java (Apicurio 3,
    Trino) get this one through JAVA_HOME. Override with JAVA21_HOME.
    """
    best: tuple[int, str] | None = None
    for java in Path("/usr/lib/jvm").glob("*/bin/java"):
        digits = "".join(c if c.isdigit() else " " for c in java.parent.parent.name).split()
        major = next((int(d) for d in digits if int(d) >= 8), 0)
        if major >= minimum and (best is None or major > best[0]):
            best = (major, str(java.parent.parent))
    return best[1] if best else ""


@dataclass
class Stack:
    env: dict[str, str]
    services: dict[str, Service]
    state: Path

    @classmethod
    def load(cls) -> Stack:
        env = stack_env()
        services = load_services(repo_root() / "infra" / "native" / "services.yaml", env)
        return cls(env=env, services=services, state=Path(env["STATE"]))

    # ------------------------------------------------------------------ supervisord
    def rpc(self) -> Any:
        sock = supervisor_conf.socket_path(self.state)
        transport = SupervisorTransport(None, None, f"unix://{sock}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def daemon_running(self) -> bool:
        if not supervisor_conf.socket_path(self.state).exists():
            return False
        try:
            return bool(self.rpc().supervisor.getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Fault, http.client.HTTPException):
            return False

    def process_info(self, name: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self.rpc().supervisor.getProcessInfo(name))
        except xmlrpc.client.Fault:
            return None

    def write_config(self) -> Path:
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        conf = self.state / "supervisord.conf"
        conf.write_text(supervisor_conf.render(self.services, self.state, repo_root()))
        return conf

    def ensure_daemon(self, starting: Iterable[str] = ()) -> None:
        """Start supervisord, or make it re-read the configuration. A changed program is
        replaced only if it is among ``starting`` (it is then restarted with the new
        configuration): the configuration is rendered from the caller's environment, so
        ``fraud-stack up superset`` from another shell must not restart the producer that
        ``make demo`` started with its own settings. Removed programs are stopped."""
        conf = self.write_config()
        if self.daemon_running():
            rpc = self.rpc()
            added, changed, removed = rpc.supervisor.reloadConfig()[0]
            replace = [n for n in changed if n in set(starting)]
            for name in replace + removed:  # e.g. a new version in versions.env
                info = self.process_info(name)
                if info and info["statename"] in {"RUNNING", "STARTING", "BACKOFF"}:
                    rpc.supervisor.stopProcess(name, True)
                    say(f"  ↻ {name:<16} configuration changed: restarting")
                rpc.supervisor.removeProcessGroup(name)
            for name in added + replace:
                rpc.supervisor.addProcessGroup(name)
            return
        supervisord = Path(sys.prefix) / "bin" / "supervisord"
        subprocess.run([str(supervisord), "-c", str(conf)], env=self.env, check=True)
        deadline = time.monotonic() + 15
        while not self.daemon_running():
            if time.monotonic() > deadline:
                raise StackError(f"supervisord did not start; see {self.state / 'logs'}")
            time.sleep(0.1)

    # ------------------------------------------------------------------ helpers
    def run_step(
        self,
        what: str,
        command: str,
        service: str,
        timeout: float = 1800,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """Run an install/setup/init command; setup and init see the service's environment."""
        # Commands come from the repository's own services.yaml, never from user input.
        proc = subprocess.run(  # noqa: S602
            command,
            shell=True,
            env={**self.env, **(extra_env or {})},
            cwd=repo_root(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip().splitlines()[-30:]
            raise StackError(
                f"{service}: {what} failed (exit {proc.returncode}): {command}\n"
                + "\n".join("    " + line for line in out)
            )

    def is_ready(self, check: Readiness) -> bool:
        return probe(check, self.env)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = supervisor_conf.log_path(self.state, name)
        if not path.exists():
            return "    (no log written)"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join("    " + line for line in text)

    # ------------------------------------------------------------------ commands
    def install(self, names: Iterable[str]) -> None:
        seen: set[str] = set()
        for name in select(self.services, names):
            script = self.services[name].install
            if script and script not in seen:
                seen.add(script)
                self.run_step("install", script, name)

    def up(self, names: Iterable[str]) -> list[str]:
        """Start the services (and their dependencies); returns those newly started.

        A service starts as soon as the services it depends on are ready, so independent
        ones (Kafka and Trino, MLflow and Airflow, ...) come up side by side; the first
        failure stops further starts and is raised once the starts in flight are done.
        """
        order = select(self.services, names)
        self.install(order)
        self.ensure_daemon(order)
        started: list[str] = []
        failed = threading.Event()
        errors: list[Exception] = []
        pool = ThreadPoolExecutor(max_workers=max(1, len(order)), thread_name_prefix="start")
        try:
            futures: dict[str, Future[bool]] = {}
            for name in order:  # dependencies first: their futures exist already
                deps = [futures[d] for d in self.services[name].depends_on if d in futures]
                futures[name] = pool.submit(self._start_after, name, deps, failed)
            for name in order:
                try:
                    if futures[name].result():
                        started.append(name)
                except _DependencyFailedError:
                    pass
                except Exception as err:  # re-raised once the starts in flight are done
                    errors.append(err)
        except BaseException:  # Ctrl-C: the waits in flight give up at their next check
            failed.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if errors:
            raise errors[0]
        return started

    def _start_after(self, name: str, deps: list[Future[bool]], failed: threading.Event) -> bool:
        for dep in deps:
            try:
                dep.result()
            except BaseException as err:
                raise _DependencyFailedError(name) from err
        if failed.is_set():
            raise _DependencyFailedError(name)
        try:
            return self._start_one(name, failed)
        except BaseException:
            failed.set()
            raise

    def _start_one(self, name: str, failed: threading.Event) -> bool:
        """Start one service whose dependencies are ready; False if it already ran."""
        svc = self.services[name]
        info = self.process_info(name)
        if info and info["statename"] == "RUNNING" and self.is_ready(svc.ready):
            say(f"  ✓ {name:<16} already running")
            return False
        if info and info["statename"] in {"STARTING", "RUNNING"}:
            self.rpc().supervisor.stopProcess(name, True)
        self.check_ports(svc)
        if svc.setup:
            self.run_step("setup", svc.setup, name, extra_env=svc.environment)
        t0 = time.monotonic()
        self.rpc().supervisor.startProcess(name, False)
        self.wait_ready(svc, failed)
        if svc.init:
            self.run_step("init", svc.init, name, timeout=300, extra_env=svc.environment)
        say(f"  ✓ {name:<16} ready in {time.monotonic() - t0:5.1f}s  {svc.url or ''}")
        return True

    def check_ports(self, svc: Service) -> None:
        for port in svc.ports:
            if port_open(port):
                raise StackError(
                    f"{svc.name}: port {port} is already in use by another process "
                    f"(not started by this stack){port_owner(port)}; stop it or free the port"
                )

    def wait_ready(self, svc: Service, abort: threading.Event | None = None) -> None:
        deadline = time.monotonic() + svc.timeout
        while True:
            if abort is not None and abort.is_set():
                raise _DependencyFailedError(svc.name)
            info = self.process_info(svc.name)
            state = info["statename"] if info else "UNKNOWN"
            if state in _FAILED_STATES:
                raise StackError(
                    f"{svc.name}: process {state.lower()} before becoming ready "
                    f"(exit status {info.get('exitstatus') if info else '?'}); "
                    f"last lines of {supervisor_conf.log_path(self.state, svc.name)}:\n"
                    + self.log_tail(svc.name)
                )
            if state == "RUNNING" and self.is_ready(svc.ready):
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"{svc.name}: not ready after {svc.timeout:.0f}s "
                    f"({svc.ready.kind} check: {svc.ready.target}); last lines of "
                    f"{supervisor_conf.log_path(self.state, svc.name)}:\n" + self.log_tail(svc.name)
                )
            time.sleep(0.3)

    def stop(self, names: Iterable[str] | None = None) -> None:
        """Stop the given services (default: all), dependents before what they depend on:
        in waves of services no running one depends on, each wave's stops side by side."""
        if not self.daemon_running():
            return
        order = select(self.services, list(self.services)) if names is None else list(names)
        rpc = self.rpc()
        active = {"RUNNING", "STARTING", "BACKOFF"}
        running = [
            n for n in order if (info := self.process_info(n)) and info["statename"] in active
        ]
        while running:
            needed = {d for n in running for d in self.services[n].depends_on}
            wave = [n for n in running if n not in needed] or running[-1:]
            for name in wave:
                try:
                    rpc.supervisor.stopProcess(name, False)
                except xmlrpc.client.Fault as fault:  # it stopped by itself meanwhile
                    say(f"  ■ {name:<16} {fault.faultString}")
            deadline = time.monotonic() + 120
            pending = set(wave)
            while pending and time.monotonic() < deadline:
                pending = {
                    n
                    for n in pending
                    if (info := self.process_info(n)) and info["statename"] in active | {"STOPPING"}
                }
                if pending:
                    time.sleep(0.1)
            for name in wave:
                say(f"  ■ {name:<16} stopped")
            running = [n for n in running if n not in wave]

    def down(self) -> None:
        if not self.daemon_running():
            say("native stack is not running")
            return
        self.stop()
        pid_file = self.state / "supervisord.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        self.rpc().supervisor.shutdown()
        deadline = time.monotonic() + 30
        while pid and pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        say("native stack stopped")

    def status(self) -> int:
        running = self.daemon_running()
        say(f"state directory: {self.state}   supervisord: {'running' if running else 'stopped'}")
        unhealthy = 0
        for name, svc in self.services.items():
            info = self.process_info(name) if running else None
            state = info["statename"] if info else "NOT STARTED"
            ready = state == "RUNNING" and self.is_ready(svc.ready)
            health = "healthy" if ready else ("unhealthy" if state == "RUNNING" else "-")
            unhealthy += state == "RUNNING" and not ready
            pid = str(info["pid"]) if info and info["pid"] else "-"
            say(f"  {name:<16} {state:<12} {health:<10} pid {pid:<8} {svc.url or ''}")
        return 1 if unhealthy else 0

    def logs(self, names: list[str], lines: int, follow: bool) -> int:
        targets = names or list(self.services)
        paths = [str(supervisor_conf.log_path(self.state, n)) for n in targets]
        paths = [p for p in paths if Path(p).exists()]
        if not paths:
            say("no logs yet")
            return 0
        cmd = ["tail", "-n", str(lines), *(["-F"] if follow else []), *paths]
        return subprocess.call(cmd)

    def clean(self) -> None:
        self.down()
        if self.state.exists():
            shutil.rmtree(self.state)
            say(f"removed {self.state}")


def probe(check: Readiness, env: Mapping[str, str]) -> bool:
    """One readiness probe: a TCP connect, an HTTP answer below 500, or a command's exit 0."""
    if check.kind == "tcp":
        return port_open(int(check.target))
    if check.kind == "http":
        try:
            with urllib.request.urlopen(check.target, timeout=2) as resp:  # noqa: S310
                return bool(resp.status < 500)
        except urllib.error.HTTPError as err:
            return err.code < 500
        except (OSError, http.client.HTTPException):
            return False
    try:
        return (
            subprocess.run(  # noqa: S602 — readiness commands come from services.yaml
                check.target,
                shell=True,
                env=dict(env),
                capture_output=True,
                timeout=20,
                check=False,
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_owner(port: int) -> str:
    if not shutil.which("ss"):
        return ""
    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f" [{out.splitlines()[0].split()[-1]}]" if out else ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fraud-stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    for cmd in ("up", "install"):
        p = sub.add_parser(cmd)
        p.add_argument("names", nargs="*", default=[DEFAULT_GROUP])
    p_stop = sub.add_parser("stop")
    p_stop.add_argument("names", nargs="+")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("clean")
    sub.add_parser("running", help="exit 0 when the stack's supervisord runs")
    p_logs = sub.add_parser("logs")
    p_logs.add_argument("names", nargs="*")
    p_logs.add_argument("-n", "--lines", type=int, default=50)
    p_logs.add_argument("-f", "--follow", action="store_true")
    args = parser.parse_args(argv)

    stack = Stack.load()
    try:
        if args.cmd == "up":
            t0 = time.monotonic()
            say(f"native stack: starting {' '.join(args.names)} (state in {stack.state})")
            stack.up(args.names or [DEFAULT_GROUP])
            say(f"native stack ready in {time.monotonic() - t0:.1f}s")
        elif args.cmd == "install":
            stack.install(args.names or [DEFAULT_GROUP])
        elif args.cmd == "stop":
            stack.stop(args.names)
        elif args.cmd == "down":
            stack.down()
        elif args.cmd == "status":
            return stack.status()
        elif args.cmd == "logs":
            return stack.logs(args.names, args.lines, args.follow)
        elif args.cmd == "clean":
            stack.clean()
        elif args.cmd == "running":
            return 0 if stack.daemon_running() else 1
    except StackError as err:
        say(f"✗ {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
