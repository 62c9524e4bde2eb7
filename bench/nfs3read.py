"""A minimal NFSv3 reader over TCP (MOUNT, LOOKUP, READ), from a chosen source address.

What a booting live system's kernel does to its root, reduced to the reads: mount the export, look up the
squashfs, read it in rsize chunks. The bench's PCs share one network namespace, so each binds its own
address; libnfs' nfs-cat cannot. Ports are given (no portmapper): the bench starts the server itself.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct

MOUNT_PROGRAM, MOUNT_VERSION, MOUNT_MNT = 100005, 3, 1
NFS_PROGRAM, NFS_VERSION, NFS_LOOKUP, NFS_READ = 100003, 3, 3, 6
AUTH_SYS = 1
FATTR3_BYTES = 84
_xids = itertools.count(os.getpid() << 16)


class NfsError(Exception):
    """An RPC or NFS status that is not success; the message says which call."""


def _opaque(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data + b"\0" * (-len(data) % 4)


def _credentials() -> bytes:
    body = struct.pack(">I", 0) + _opaque(b"pc") + struct.pack(">III", 0, 0, 0)  # uid 0, gid 0, no groups
    return struct.pack(">I", AUTH_SYS) + _opaque(body)


class RpcConnection:
    """One TCP connection to one RPC program, calls one at a time (record marking, AUTH_SYS)."""

    def __init__(self, server: str, port: int, source: str, timeout: float) -> None:
        self.sock = socket.create_connection((server, port), timeout=timeout, source_address=(source, 0))
        self.buffer = bytearray(2 * 1024 * 1024)
        self.received = 0

    def close(self) -> None:
        self.sock.close()

    def call(self, program: int, version: int, procedure: int, args: bytes) -> memoryview:
        """The accepted reply's result bytes (a view into this connection's buffer)."""
        xid = next(_xids) & 0xFFFFFFFF
        header = struct.pack(">IIIIII", xid, 0, 2, program, version, procedure) + _credentials() + b"\0" * 8
        message = header + args
        self.sock.sendall(struct.pack(">I", 0x80000000 | len(message)) + message)
        length = 0
        while True:  # fragments until the last one
            mark = struct.unpack(">I", self._exactly(4, 0))[0]
            size = mark & 0x7FFFFFFF
            if length + size > len(self.buffer):
                self.buffer.extend(bytes(length + size - len(self.buffer)))
            self._exactly(size, length)
            length += size
            if mark & 0x80000000:
                break
        self.received += length
        reply = memoryview(self.buffer)[:length]
        got_xid, kind, reply_stat = struct.unpack_from(">III", reply, 0)
        if got_xid != xid or kind != 1 or reply_stat != 0:
            raise NfsError(f"RPC {program}/{procedure}: reply xid/kind/state {got_xid}/{kind}/{reply_stat}")
        verifier_length = struct.unpack_from(">I", reply, 16)[0]
        offset = 20 + verifier_length + (-verifier_length % 4)
        accept = struct.unpack_from(">I", reply, offset)[0]
        if accept != 0:
            raise NfsError(f"RPC {program}/{procedure}: not accepted ({accept})")
        return reply[offset + 4 :]

    def _exactly(self, size: int, at: int) -> bytes:
        view = memoryview(self.buffer)
        got = 0
        while got < size:
            n = self.sock.recv_into(view[at + got : at + size])
            if n == 0:
                raise ConnectionError("server closed the connection")
            got += n
        return bytes(view[at : at + size]) if size == 4 else b""


def _status(result: memoryview, what: str) -> None:
    status = struct.unpack_from(">I", result, 0)[0]
    if status != 0:
        raise NfsError(f"{what}: status {status}")


def _skip_post_op_attr(result: memoryview, offset: int) -> int:
    follows = struct.unpack_from(">I", result, offset)[0]
    return offset + 4 + (FATTR3_BYTES if follows else 0)


def _handle(result: memoryview, offset: int) -> tuple[bytes, int]:
    length = struct.unpack_from(">I", result, offset)[0]
    start = offset + 4
    return bytes(result[start : start + length]), start + length + (-length % 4)


def read_file(
    server: str,
    source: str,
    export: str,
    path: str,
    total: int,
    rsize: int,
    timeout: float,
    nfs_port: int = 2049,
    mount_port: int = 20048,
) -> int:
    """Mount `export`, look up `path` below it and READ its first `total` bytes in `rsize` chunks.
    Returns the bytes of file data received."""
    mount = RpcConnection(server, mount_port, source, timeout)
    try:
        result = mount.call(MOUNT_PROGRAM, MOUNT_VERSION, MOUNT_MNT, _opaque(export.encode()))
        _status(result, f"MNT {export}")
        handle, _ = _handle(result, 4)
    finally:
        mount.close()
    nfs = RpcConnection(server, nfs_port, source, timeout)
    try:
        for name in path.strip("/").split("/"):
            result = nfs.call(NFS_PROGRAM, NFS_VERSION, NFS_LOOKUP, _opaque(handle) + _opaque(name.encode()))
            _status(result, f"LOOKUP {name}")
            handle, _ = _handle(result, 4)
        done = 0
        while done < total:
            count = min(rsize, total - done)
            result = nfs.call(NFS_PROGRAM, NFS_VERSION, NFS_READ, _opaque(handle) + struct.pack(">QI", done, count))
            _status(result, f"READ {path} at {done}")
            offset = _skip_post_op_attr(result, 4)
            got, eof = struct.unpack_from(">II", result, offset)
            done += got
            if eof or got == 0:
                break
        return done
    finally:
        nfs.close()
