"""Run model-written PoT programs where they cannot hurt the pipeline.

An LLM writes these programs: treat them as hostile. Mode `bwrap` (the default) isolates each run
with bubblewrap, enforced by the kernel, the same whether the pipeline runs as root or not:
- its own user, mount, PID, network, IPC, UTS and cgroup namespaces; no nested user namespaces;
- a filesystem holding only the interpreter, its standard library and the shared libraries they
  load (read-only), a private /proc (its own processes only), a minimal /dev, and a size-capped
  tmpfs working dir `/work` (thrown away with the namespace); no /etc, /home, /tmp, repo or storage;
- no network (an empty network namespace), an empty environment (`--clearenv`), a new session;
- as root, bwrap itself is started as `nobody`, so no host-root process ever runs inside;
- rlimits: CPU seconds, address space, file size (stdout and stderr go to files, so this caps
  them too), no core dumps, set by `prlimit` on the launcher; the process count is limited by the
  guard inside the new user namespace, where RLIMIT_NPROC counts only the sandbox's processes;
- at the deadline the launcher is killed; `--die-with-parent` then kills the PID namespace's init
  and with it every process of the sandbox, and `run_program` returns only once that init is gone.
Inside, a PEP 578 audit hook (GUARD) still refuses sockets, fork/exec, ctypes and file access
outside the working dir: defence in depth only, the program can switch it off.

Fail closed: when bwrap (or prlimit) is missing or cannot create the namespaces,
`sandbox_capabilities` raises SandboxUnavailable naming what is missing, and no program runs. Mode
`unsafe` (explicit config) runs `python -I -S` in a plain subprocess with the same rlimits, empty
environment, audit hook and process-group kill, and nothing else: the program can read what the
pipeline's user can read and reach the network.
"""
from __future__ import annotations

import json
import os
import select
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
BWRAP, UNSAFE = "bwrap", "unsafe"
NOBODY = 65534
MEMORY_EXIT = 86  # the guard's exit code for MemoryError: a limit hit, not a bug in the program
BLOCKED_EXIT = 87  # the guard's exit code for a refused operation
WORK = "/work"  # the program's working dir inside the bwrap sandbox
SIGNALLED = 128  # bwrap reports a child killed by signal S as exit code 128 + S
REAP_S = 5.0  # how long to wait for the killed sandbox's PID namespace to empty
TOOLS = {BWRAP: ("bwrap", "prlimit"), UNSAFE: ("prlimit",)}  # what each mode runs, found on PATH
PACKAGES = {"bwrap": "bubblewrap", "prlimit": "util-linux"}  # the Debian packages holding them

# Runs in the child before the program; argv[1] is the process limit (0: leave it). Kept small and
# dependency-free: the child has no site-packages.
GUARD = r"""
import os, resource, sys
nproc = int(sys.argv[1])
if nproc:
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
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


class SandboxUnavailable(RuntimeError):
    """Mode `bwrap` was asked for but this machine cannot provide it: no program may run."""


@dataclass(frozen=True)
class SandboxCfg:
    """Limits for one program run, and the isolation mode (`bwrap`, or an explicit `unsafe`)."""

    wall_s: float = 10.0
    cpu_s: int = 5
    memory_mb: int = 512
    output_kb: int = 64
    max_procs: int = 16
    scratch_mb: int = 16  # size of the tmpfs working dir (bwrap)
    workers: int = 2
    mode: str = BWRAP

    def __post_init__(self) -> None:
        if self.mode not in (BWRAP, UNSAFE):
            raise ValueError(f"sandbox: unknown mode {self.mode!r}; use 'bwrap' (isolated) or 'unsafe' (no isolation)")


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
def sandbox_capabilities(mode: str = BWRAP) -> dict:
    """How programs run in `mode` on this machine (probed once; stages store it in metadata).

    Raises SandboxUnavailable, naming what is missing, when mode `bwrap` cannot isolate here."""
    python = _interpreter()
    tools = {name: shutil.which(name) for name in TOOLS[mode]}
    missing = [name for name, path in tools.items() if not path]
    if missing:
        raise SandboxUnavailable(
            f"sandbox: {' and '.join(missing)} not found on PATH; install Debian's "
            f"{' and '.join(PACKAGES[m] for m in missing)} (apt-get install -y {' '.join(PACKAGES[m] for m in missing)})"
            + ("" if mode == UNSAFE else ", or set `sandbox: unsafe` to run model-written programs without isolation")
        )
    caps = {"mode": mode, "python": python, "launcher_uid": _launcher_uid(), "audit_hook": True, **tools,
            "rlimits": ["cpu", "as", "fsize", "core"] + (["nproc"] if mode == BWRAP else [])}
    if mode == UNSAFE:
        return {**caps, "isolation": "none (explicit `sandbox: unsafe`): rlimits, empty env, audit hook, group kill"}
    view = _filesystem_view(python)
    caps = {**caps, "read_only": view, "hidden": _hidden(view[1]),
            "namespaces": ["user", "mount", "pid", "net", "ipc", "uts", "cgroup"]}
    try:
        probe = run_program("print(6 * 7)", SandboxCfg(wall_s=30, cpu_s=10, workers=1), caps)
        failure = None if probe.answer == "42" else f"exit {probe.returncode}: {probe.stderr.strip()[-500:]!r}"
    except OSError as e:  # e.g. bwrap not executable by the launcher
        failure = f"{type(e).__name__}: {e}"
    if failure:
        raise SandboxUnavailable(
            f"sandbox: bwrap cannot isolate a program here ({failure}); "
            "it needs unprivileged user namespaces (sysctl user.max_user_namespaces > 0, "
            "kernel.unprivileged_userns_clone=1) and an interpreter `nobody` can read; "
            "or set `sandbox: unsafe` to run model-written programs without isolation"
        )
    return caps


def _interpreter() -> str:
    """The system python3 (stdlib only, readable by any user), else this Python."""
    system = Path("/usr/bin/python3")
    return os.path.realpath(system if system.exists() else sys.executable)


def _box_parent(caps: dict) -> str | None:
    """Where a program's folder goes: the temp folder (None), unless the launcher (`nobody`, when we
    are root) cannot pass through it, as with a private TMPDIR (a 0700 folder, such as a test's):
    then /tmp, which every user can pass through."""
    if caps["mode"] != BWRAP or caps["launcher_uid"] == os.geteuid():
        return None
    tmp = Path(tempfile.gettempdir()).resolve()
    return None if all(p.stat().st_mode & 0o001 for p in (tmp, *tmp.parents)) else "/tmp"


def _launcher_uid() -> int:
    """Who starts bwrap: never root (a sandbox uid mapped to host root escapes RLIMIT_NPROC)."""
    return NOBODY if os.geteuid() == 0 else os.geteuid()


def _filesystem_view(python: str) -> list[str]:
    """Files and folders the program may read: the interpreter, its stdlib, and the libraries they load."""
    stdlib = subprocess.run(
        [python, "-I", "-S", "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True, text=True, check=True, env={},
    ).stdout.strip()
    binaries = [python, *map(str, Path(stdlib).rglob("*.so"))]
    ldd = subprocess.run(["ldd", *binaries], capture_output=True, text=True, check=False, env={}).stdout
    libraries = {tok for line in ldd.splitlines() for tok in line.split() if tok.startswith("/") and not tok.endswith(":")}
    return [python, stdlib, *sorted(libraries)]


def _hidden(stdlib: str) -> list[str]:
    """Package folders inside the stdlib folder (a pyenv or venv base keeps site-packages there)."""
    return [str(p) for p in (Path(stdlib) / "site-packages", Path(stdlib) / "dist-packages") if p.is_dir()]


def _bwrap_argv(caps: dict, cfg: SandboxCfg, main_py: Path, info_fd: int) -> list[str]:
    python = caps["read_only"][0]
    binds = [arg for path in caps["read_only"] for arg in ("--ro-bind", path, path)]
    hide = [arg for path in caps["hidden"] for arg in ("--tmpfs", path)]
    return [
        caps["bwrap"], "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
        "--new-session", "--clearenv", "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox",
        *binds, *hide, "--proc", "/proc", "--dev", "/dev",
        "--perms", "0700", "--size", str(cfg.scratch_mb * 1024 * 1024), "--tmpfs", WORK,
        "--ro-bind", str(main_py), f"{WORK}/main.py", "--chdir", WORK, "--info-fd", str(info_fd),
        python, "-I", "-S", "-c", GUARD, str(cfg.max_procs),
    ]


def _prlimit(caps: dict, cfg: SandboxCfg) -> list[str]:
    """Limits the launcher sets on itself before exec; inherited by everything it starts."""
    mem, out = cfg.memory_mb * 1024 * 1024, cfg.output_kb * 1024
    return [caps["prlimit"], f"--cpu={cfg.cpu_s}:{cfg.cpu_s + 1}", f"--as={mem}", f"--fsize={out}", "--core=0", "--"]


def run_program(code: str, cfg: SandboxCfg = SandboxCfg(), caps: dict | None = None) -> ExecResult:
    """Run `code` once in the sandbox of `cfg.mode`; never raises for what the code does."""
    caps = caps or sandbox_capabilities(cfg.mode)
    box = Path(tempfile.mkdtemp(prefix="pot-", dir=_box_parent(caps)))
    work = box / "work"
    work.mkdir()
    (work / "main.py").write_text(code, encoding="utf-8")
    if caps["mode"] == BWRAP:
        box.chmod(0o711)  # the launcher (nobody, when we are root) binds work/main.py
        work.chmod(0o755)
    started = time.monotonic()
    try:
        with open(box / "stdout", "wb") as out, open(box / "stderr", "wb") as err:
            returncode, timed_out = _launch(caps, cfg, work, out, err)
        seconds = round(time.monotonic() - started, 4)
        stdout = _read_capped(box / "stdout", cfg.output_kb)
        stderr = _read_capped(box / "stderr", cfg.output_kb)
        capped = max((box / "stdout").stat().st_size, (box / "stderr").stat().st_size) >= cfg.output_kb * 1024
        status = TIMEOUT if timed_out else KILLED if capped else _status(returncode, caps["mode"])
        answer = _last_line(stdout) if status == OK else None
        return ExecResult(status, answer, stdout, stderr[-2000:], returncode, seconds)
    finally:
        shutil.rmtree(box, ignore_errors=True)


def _launch(caps: dict, cfg: SandboxCfg, work: Path, out, err) -> tuple[int, bool]:
    """Start the program, kill everything it started at the deadline; (exit code, timed out)."""
    common = {"stdin": subprocess.DEVNULL, "stdout": out, "stderr": err, "start_new_session": True}
    if caps["mode"] == UNSAFE:
        argv = [*_prlimit(caps, cfg), caps["python"], "-I", "-S", "-c", GUARD, "0"]
        proc = subprocess.Popen(argv, cwd=work, env={}, **common)
        timed_out = _wait(proc, cfg.wall_s)
        return proc.returncode, timed_out
    read_end, write_end = os.pipe()
    try:
        argv = [*_prlimit(caps, cfg), *_bwrap_argv(caps, cfg, work / "main.py", write_end)]
        uid = _launcher_uid()
        as_user = {"user": uid, "group": uid, "extra_groups": []} if uid != os.geteuid() else {}
        proc = subprocess.Popen(argv, cwd="/", env={}, pass_fds=(write_end,), **as_user, **common)
        os.close(write_end)
        write_end = -1
        deadline = time.monotonic() + cfg.wall_s
        init = _sandbox_init(read_end, cfg.wall_s)
        timed_out = _wait(proc, max(0.0, deadline - time.monotonic()))
        if init is not None:
            _await_exit(init)
        return proc.returncode, timed_out
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def _wait(proc: subprocess.Popen, wall_s: float) -> bool:
    """Wait up to `wall_s`, then kill the launcher's process group; True when the deadline hit."""
    try:
        proc.wait(timeout=wall_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    return timed_out


def _sandbox_init(info_fd: int, wall_s: float) -> int | None:
    """A pidfd on the PID namespace's init, from the info JSON bwrap writes and closes once the
    sandbox runs (None when bwrap failed first, or did not get that far within `wall_s`)."""
    deadline, data = time.monotonic() + wall_s, b""
    while select.select([info_fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(info_fd, 4096)
        if not chunk:
            break
        data += chunk
    if not data.rstrip().endswith(b"}"):
        return None
    try:
        return os.pidfd_open(json.loads(data)["child-pid"])
    except ProcessLookupError:
        return None  # already gone, and with it the namespace


def _await_exit(pidfd: int) -> None:
    """The init exits only after the kernel killed every process of its namespace: wait for that."""
    try:
        select.select([pidfd], [], [], REAP_S)
    finally:
        os.close(pidfd)


def run_programs(codes: list[str | None], cfg: SandboxCfg = SandboxCfg()) -> list[ExecResult | None]:
    """Run many programs, `cfg.workers` at a time; None in, None out (no program to run)."""
    caps = sandbox_capabilities(cfg.mode)  # fails closed before any program runs
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        return list(pool.map(lambda c: run_program(c, cfg, caps) if c and c.strip() else None, codes))


def _status(returncode: int, mode: str) -> str:
    if returncode == 0:
        return OK
    signalled = _signal(returncode, mode)
    if signalled == signal.SIGXCPU:  # the CPU-seconds limit
        return TIMEOUT
    if signalled in (signal.SIGKILL, signal.SIGXFSZ, signal.SIGSEGV) or returncode == MEMORY_EXIT:
        return KILLED
    return ERROR


def _signal(returncode: int, mode: str) -> int:
    """The signal that ended the program, 0 for a plain exit."""
    if returncode < 0:
        return -returncode
    return returncode - SIGNALLED if mode == BWRAP and returncode > SIGNALLED else 0


def _read_capped(path: Path, kb: int) -> str:
    with open(path, "rb") as f:
        return f.read(kb * 1024).decode("utf-8", errors="replace")


def _last_line(stdout: str) -> str | None:
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    return lines[-1] if lines else None
