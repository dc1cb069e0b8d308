"""Run model-written PoT programs where they cannot hurt the pipeline.

Layers, each enforced by the kernel or the interpreter, none trusted alone:
- a separate process started with an EMPTY environment (no credentials, no CORPUS_ROOT) in a
  throwaway working directory, as `python -I -S` (no site-packages, no PYTHON* variables);
- resource limits (setrlimit): CPU seconds, address space, file size (which also caps stdout and
  stderr: they go to files) and, when we can drop to an unprivileged uid, the process count;
- when started as root: a fresh network namespace (no interfaces but a down loopback) and a drop
  to uid/gid `nobody`, so the repo and storage are read-only by file permissions and the
  process-count limit applies (root ignores RLIMIT_NPROC);
- inside the child, an audit hook (PEP 578) that refuses sockets, fork/exec/subprocess, ctypes,
  and file access outside the working directory and the standard library. This is the network
  guard when no namespace can be made; it is a tripwire, not a security boundary on its own;
- a wall-clock timeout that kills the whole process group.
Limits, namespace and uid drop are applied in `preexec_fn` (between fork and exec). Python calls
that unsafe with threads; the child runs only setrlimit/setuid and one libc call (the handle is
loaded by the parent), and a child stuck there is still killed by the wall timeout.
`sandbox_capabilities()` says which layers this machine grants; stages record it in metadata.
"""
from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

OK, ERROR, TIMEOUT, KILLED = "ok", "error", "timeout", "killed"
NOBODY = 65534
CLONE_NEWNET = 0x40000000
MEMORY_EXIT = 86  # the guard's exit code for MemoryError: a limit hit, not a bug in the program
BLOCKED_EXIT = 87  # the guard's exit code for a refused operation

# Runs in the child before the program. Kept small and dependency-free: the child has no site-packages.
GUARD = r"""
import os, sys
work = os.path.realpath(os.getcwd())
roots = tuple(os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)) + (work,)
ALLOWED_DEV = ("/dev/null", "/dev/urandom")
DENY = ("socket.", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system",
        "subprocess.", "os.kill", "os.killpg", "ctypes.", "os.chdir", "os.chroot", "os.setuid")
PATH_EVENTS = ("open", "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.listdir", "os.scandir",
               "os.symlink", "os.link", "os.chmod", "os.chown", "os.truncate", "shutil.")

def _inside(path, write):
    if isinstance(path, int):
        return True
    p = os.path.realpath(os.fsdecode(path))
    if p in ALLOWED_DEV or p == work or p.startswith(work + os.sep):
        return True
    return not write and any(p == r or p.startswith(r + os.sep) for r in roots)

def _hook(event, args):
    if event.startswith(DENY):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event.startswith(PATH_EVENTS) and args:
        write = event != "open" or (len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax+"))
        if event == "open" and len(args) > 2 and isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR):
            write = True
        if event in ("os.listdir", "os.scandir"):
            write = False
        if not _inside(args[0], write):
            raise PermissionError(f"sandbox: {event} outside the working directory")

source = open("main.py", encoding="utf-8").read()
code = compile(source, "main.py", "exec")
sys.addaudithook(_hook)
try:
    exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
except MemoryError:
    sys.stderr.write("sandbox: MemoryError\n")
    os._exit(86)
except PermissionError as e:
    if str(e).startswith("sandbox:"):
        sys.stderr.write(f"{e}\n")
        sys.stderr.flush()
        os._exit(87)
    raise
"""


@dataclass(frozen=True)
class SandboxCfg:
    """Limits for one program run."""

    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    output_kb: int = 64
    max_procs: int = 16
    workers: int = 2


@dataclass(frozen=True)
class ExecResult:
    """What a program did: status ok/error/timeout/killed, its last output line as the answer."""

    status: str
    answer: str | None
    stdout: str
    stderr: str
    returncode: int | None
    seconds: float


@cache
def sandbox_capabilities() -> dict:
    """Which isolation layers this machine grants (probed once with a throwaway child)."""
    python = _interpreter()
    root = os.geteuid() == 0
    drop = root and _world_executable(python)
    netns = False
    if root and sys.platform == "linux":
        _libc()
        probe = subprocess.run([python, "-I", "-S", "-c", "pass"], preexec_fn=_unshare_net, env={}, capture_output=True, check=False)
        netns = probe.returncode == 0
    return {"python": python, "netns": netns, "drop_to_nobody": drop, "nproc_limit": drop, "audit_hook": True, "rlimits": True}


def _interpreter() -> str:
    """This Python, or a system python3 when ours sits where `nobody` cannot execute it (e.g. under /root)."""
    ours = os.path.realpath(sys.executable)
    if os.geteuid() != 0 or _world_executable(ours):
        return ours
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    return os.path.realpath(system) if system and _world_executable(os.path.realpath(system)) else ours


def _world_executable(path: str) -> bool:
    """True when any user may execute `path`: the file and every folder above it are o+x."""
    p = Path(path)
    return all(os.stat(d).st_mode & 0o001 for d in [p, *p.parents])


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _unshare_net() -> None:
    """Runs in the child between fork and exec: only a libc call, the handle was loaded by the parent."""
    if _libc().unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")


def _limits(cfg: SandboxCfg, netns: bool, drop: bool):
    def apply() -> None:
        mem = cfg.memory_mb * 1024 * 1024
        out = cfg.output_kb * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (cfg.cpu_s, cfg.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (out, out))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if netns:
            _unshare_net()
        if drop:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            resource.setrlimit(resource.RLIMIT_NPROC, (cfg.max_procs, cfg.max_procs))

    return apply


def run_program(code: str, cfg: SandboxCfg = SandboxCfg()) -> ExecResult:
    """Run `code` once under every layer this machine grants; never raises for what the code does."""
    caps = sandbox_capabilities()
    box = Path(tempfile.mkdtemp(prefix="pot-"))
    work = box / "work"
    work.mkdir()
    (work / "main.py").write_text(code, encoding="utf-8")
    if caps["drop_to_nobody"]:
        os.chown(work, NOBODY, NOBODY)
    started = time.monotonic()
    try:
        with open(box / "stdout", "wb") as out, open(box / "stderr", "wb") as err:
            proc = subprocess.Popen(
                [caps["python"], "-I", "-S", "-c", GUARD],
                cwd=work,
                env={},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=_limits(cfg, caps["netns"], caps["drop_to_nobody"]),  # noqa: PLW1509 - see module docs
            )
            timed_out = False
            try:
                proc.wait(timeout=cfg.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc.pid)
            proc.wait()
        seconds = round(time.monotonic() - started, 4)
        stdout = _read_capped(box / "stdout", cfg.output_kb)
        stderr = _read_capped(box / "stderr", cfg.output_kb)
        capped = max((box / "stdout").stat().st_size, (box / "stderr").stat().st_size) >= cfg.output_kb * 1024
        status = TIMEOUT if timed_out else KILLED if capped else _status(proc.returncode)
        answer = _last_line(stdout) if status == OK else None
        return ExecResult(status, answer, stdout, stderr[-2000:], proc.returncode, seconds)
    finally:
        shutil.rmtree(box, ignore_errors=True)


def run_programs(codes: list[str | None], cfg: SandboxCfg = SandboxCfg()) -> list[ExecResult | None]:
    """Run many programs, `cfg.workers` at a time; None in, None out (no program to run)."""
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        return list(pool.map(lambda c: run_program(c, cfg) if c and c.strip() else None, codes))


def _status(returncode: int) -> str:
    if returncode == 0:
        return OK
    if returncode == -signal.SIGXCPU:  # the CPU-seconds limit
        return TIMEOUT
    if returncode in (-signal.SIGKILL, -signal.SIGXFSZ, -signal.SIGSEGV, MEMORY_EXIT):
        return KILLED
    return ERROR


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_capped(path: Path, kb: int) -> str:
    with open(path, "rb") as f:
        return f.read(kb * 1024).decode("utf-8", errors="replace")


def _last_line(stdout: str) -> str | None:
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    return lines[-1] if lines else None
