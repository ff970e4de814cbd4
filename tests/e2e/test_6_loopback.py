"""Nothing the demo's platform runs listens beyond loopback.

Every TCP socket in the LISTEN state that belongs to a process of the native stack (a
descendant of the stack's supervisord) is bound to a loopback address: 127.0.0.0/8, ::1,
or an IPv4-mapped loopback. Read from ``/proc`` (``/proc/net/tcp{,6}`` and each process's
file descriptors), on the session's demo platform with every service running, so that a
service that binds the wildcard address (prometheus_client's default, an engine's) fails
it by name and port.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from fraud_infra.stack import Stack
from fraud_testing.demo import Demo

_LISTEN = "0A"


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    # four 32-bit words, each in host (little-endian) order
    return ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def listening_sockets() -> dict[int, tuple[str, int]]:
    """Socket inode -> (address, port) of every listening TCP socket on the machine."""
    found: dict[int, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != _LISTEN:
                continue
            host, port = fields[1].split(":")
            found[int(fields[9])] = (str(_address(host)), int(port, 16))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(root: int) -> set[int]:
    tree, todo, seen = _children(), [root], {root}
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@pytest.mark.e2e
def test_every_listening_socket_of_the_platform_is_on_loopback(
    demo: Demo, native_stack: Stack
) -> None:
    supervisord = int((native_stack.state / "supervisord.pid").read_text())
    sockets = listening_sockets()
    listeners = {
        (pid, _name(pid), *sockets[inode])
        for pid in descendants(supervisord)
        for inode in socket_inodes(pid)
        if inode in sockets
    }
    ports = {port for *_, port in listeners}
    # the services whose metrics endpoints bound the wildcard before (prometheus_client's
    # default), the API and the broker: the scan sees them, so it can fail on them
    assert {8000, 8001, 8002, 8003, 8004, 9092} <= ports, sorted(listeners)
    exposed = sorted(entry for entry in listeners if not is_loopback(entry[2]))
    assert exposed == [], "listening beyond loopback (pid, process, address, port): " + str(exposed)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
    ],
)
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


@pytest.mark.unit
def test_proc_addresses_decode() -> None:
    ip = ipaddress.ip_address
    assert _address("0100007F") == ip("127.0.0.1")
    assert _address("00000000") == ip("0.0.0.0")
    assert _address("00000000000000000000000001000000") == ip("::1")
    assert _address("0000000000000000FFFF00000100007F") == ip("::ffff:127.0.0.1")
