"""Side effects on the rest of the system, in one place: files written atomically, processes signalled
through their pid files, re-read commands run, boot loader files copied.

Each function reports what happened as a short sentence rather than raising, so one failing part
(no dnsmasq running, exportfs missing) never stops the others; the service logs and retries.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str


def write_atomically(path: Path, text: str, mode: int = 0o644, durable: bool = True) -> None:
    """Write via a temporary file in the same folder + fsync + rename: readers never see half a file.
    Not `durable`: no fsync, for what is cheaply made again when a crash loses it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, text: str, durable: bool = True) -> bool:
    """Write `text` atomically unless the file already says exactly that. True when written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    write_atomically(path, text, durable=durable)
    return True


def signal_pidfile(pid_file: Path | None, what: str, sig: int = signal.SIGHUP) -> Result:
    """Send `sig` (0: only check it runs) to the process in `pid_file`; a missing or stale pid file is a warning."""
    if pid_file is None:
        return Result(False, f"{what} not signalled: no pid file configured")
    try:
        pid = int(pid_file.read_text().split()[0])
    except FileNotFoundError:
        return Result(False, f"{what} not signalled: pid file {pid_file} does not exist (is {what} running?)")
    except (OSError, ValueError, IndexError) as exc:
        return Result(False, f"{what} not signalled: cannot read a pid from {pid_file}: {exc}")
    if pid <= 1:
        return Result(False, f"{what} not signalled: pid file {pid_file} holds {pid}")
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return Result(False, f"{what} not signalled: stale pid file {pid_file} (no process {pid})")
    except PermissionError:
        return Result(False, f"{what} not signalled: no permission to signal pid {pid} from {pid_file}")
    return Result(True, f"sent {signal.Signals(sig).name if sig else 'no signal'} to {what} (pid {pid})")


def run_command(command: Sequence[str], what: str, timeout: float = 60) -> Result:
    """Run a re-read command such as `exportfs -ra`; its stderr is part of a failure message."""
    if not command:
        return Result(False, f"{what} not run: no command configured")
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return Result(False, f"{what} failed: {command[0]} not found")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Result(False, f"{what} failed: {exc}")
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().replace("\n", "; ")[:500]
        return Result(False, f"{what} failed: {' '.join(command)} exited {done.returncode}: {detail}")
    return Result(True, f"ran {' '.join(command)}")


def install_files(wanted: dict[Path, Path]) -> list[Result]:
    """Copy boot loader files (destination -> source) that are missing or differ from their source.

    "Differ" is size or mtime: a copy takes the source's mtime, so an upgraded Debian package (new
    mtime) is copied again on the next start. Each copy is atomic: a client never loads half a file."""
    results = []
    for dest, source in wanted.items():
        try:
            src = source.stat()
        except OSError:
            if not dest.exists():
                results.append(
                    Result(False, f"cannot install {dest.name}: {source} not found (is the package installed?)")
                )
            continue
        try:
            have = dest.stat()
            if (have.st_size, have.st_mtime_ns) == (src.st_size, src.st_mtime_ns):
                continue
            verb = "refreshed"
        except FileNotFoundError:
            verb = "installed"
        tmp = ""
        try:  # a full or read-only TFTP root is a failure to report and retry, never a crash
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
            os.close(fd)
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o644)
            os.utime(tmp, ns=(src.st_atime_ns, src.st_mtime_ns))
            os.replace(tmp, dest)
        except OSError as exc:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            results.append(Result(False, f"cannot install {dest}: {exc.strerror or exc}"))
            continue
        except BaseException:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            raise
        results.append(Result(True, f"{verb} {dest} from {source}"))
    return results
