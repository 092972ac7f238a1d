"""Installed as ``sitecustomize`` in a child process (the privacy test writes it into a folder put first on
PYTHONPATH): logs every outbound connection and name lookup that Python code makes, and refuses those that
would leave the machine. Each event is one JSON line appended to ``$PRIVACY_PROBE_LOG``.

Only the standard library here: it runs before anything else in the child.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket

_LOG = os.environ.get("PRIVACY_PROBE_LOG", "")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _record(kind: str, **detail: object) -> None:
    if not _LOG:
        return
    line = json.dumps({"pid": os.getpid(), "kind": kind, **detail}, default=str) + "\n"
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo
_gethostbyname = socket.gethostbyname
_gethostbyname_ex = socket.gethostbyname_ex
_gethostbyaddr = socket.gethostbyaddr


def _check(sock: socket.socket, address: object) -> bool:
    """Record a connect; True if it may go ahead."""
    if sock.family == socket.AF_UNIX:
        _record("connect", family="AF_UNIX", address=address)
        return True
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        _record("connect", family=str(sock.family), address=address)
        return True
    host, port = address[0], address[1]  # type: ignore[index]
    allowed = _is_loopback(host)
    _record("connect", family=sock.family.name, host=host, port=port, refused=not allowed)
    return allowed


def connect(self: socket.socket, address: object) -> None:
    if not _check(self, address):
        raise ConnectionRefusedError(errno.ECONNREFUSED, f"privacy probe: refused {address!r}")
    return _connect(self, address)


def connect_ex(self: socket.socket, address: object) -> int:
    if not _check(self, address):
        return errno.ECONNREFUSED
    return _connect_ex(self, address)


def _lookup(name: str, host: object, port: object = None) -> None:
    allowed = host is None or _is_loopback(host)
    _record("lookup", call=name, host=host, port=port, refused=not allowed)
    if not allowed:
        raise socket.gaierror(socket.EAI_NONAME, f"privacy probe: no lookups of {host!r}")


def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
    _lookup("getaddrinfo", host, port)
    return _getaddrinfo(host, port, *args, **kwargs)


def gethostbyname(host):  # type: ignore[no-untyped-def]
    _lookup("gethostbyname", host)
    return _gethostbyname(host)


def gethostbyname_ex(host):  # type: ignore[no-untyped-def]
    _lookup("gethostbyname_ex", host)
    return _gethostbyname_ex(host)


def gethostbyaddr(host):  # type: ignore[no-untyped-def]
    _lookup("gethostbyaddr", host)
    return _gethostbyaddr(host)


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = getaddrinfo
socket.gethostbyname = gethostbyname
socket.gethostbyname_ex = gethostbyname_ex
socket.gethostbyaddr = gethostbyaddr
_record("start", argv=getattr(__import__("sys"), "argv", None))
