"""The escapes of issue 12, each run against the bwrap sandbox and checked from outside it.

Every program first does what the issue found (most switch the in-process audit hook off, as a
hostile program can), so what contains it is the kernel: namespaces, the empty filesystem view,
rlimits and the PID-namespace kill. Each runs twice: launched by this test process (root here) and
by an unprivileged user (`setpriv --reuid 65534`), whose own files and environment are the target.
"""
import dataclasses
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from corpus_dag.rebuild import sandbox
from corpus_dag.rebuild.sandbox import ERROR, OK, SandboxCfg, run_program

CFG = SandboxCfg(wall_s=4, cpu_s=2, memory_mb=256, output_kb=16, max_procs=8)
SECRET = "AWS_SECRET_ACCESS_KEY"
UNHOOK = "import __main__, os\n__main__.DENY = ()\n__main__.PATH_EVENTS = ()\n"  # the audit hook, switched off

# Loads the sandbox module from a path (no corpus_dag install needed) and runs stdin's program.
RUNNER = """
import dataclasses, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("sandbox", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["sandbox"] = module
spec.loader.exec_module(module)
result = module.run_program(sys.stdin.read(), module.SandboxCfg(**json.loads(sys.argv[2])))
print(json.dumps(dataclasses.asdict(result)))
"""


@dataclasses.dataclass
class Launcher:
    """Runs programs as `uid` and owns a folder with a file of that user, outside the sandbox."""

    uid: int
    home: Path
    secret: str

    @property
    def user_file(self) -> Path:
        return self.home / "notes.txt"

    def run(self, code: str) -> sandbox.ExecResult:
        if self.uid == os.geteuid():
            return run_program(code, CFG)
        return self._run_as_other_user(code)

    def _run_as_other_user(self, code: str) -> sandbox.ExecResult:
        shared = Path(tempfile.mkdtemp(prefix="sandbox-launcher-"))
        try:
            shared.chmod(0o755)
            module = shutil.copy(sandbox.__file__, shared / "sandbox.py")
            runner = shared / "runner.py"
            runner.write_text(RUNNER)
            cfg = json.dumps(dataclasses.asdict(CFG))
            done = subprocess.run(
                ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                 "/usr/bin/python3", "-I", str(runner), str(module), cfg],
                input=code, capture_output=True, text=True, cwd="/", check=False, timeout=120,
                env={"PATH": "/usr/bin:/bin", SECRET: self.secret},
            )
            assert done.returncode == 0, done.stderr
            return sandbox.ExecResult(**json.loads(done.stdout))
        finally:
            shutil.rmtree(shared)


@pytest.fixture(params=["caller", "unprivileged"])
def launcher(request, monkeypatch):
    if request.param == "unprivileged" and os.geteuid() != 0:
        pytest.skip("this test process is already unprivileged: the 'caller' case is the unprivileged run")
    uid = os.geteuid() if request.param == "caller" else sandbox.NOBODY
    secret = f"secret-{uuid.uuid4().hex}"
    monkeypatch.setenv(SECRET, secret)  # the sandbox's parent (or grandparent) holds a credential
    home = Path(tempfile.mkdtemp(prefix="sandbox-home-"))
    (home / "notes.txt").write_text("original")
    for path in (home, home / "notes.txt"):
        os.chown(path, uid, uid)
    home.chmod(0o700)
    yield Launcher(uid, home, secret)
    shutil.rmtree(home)


def assert_untouched(launcher: Launcher) -> None:
    assert launcher.user_file.read_text() == "original"
    assert sorted(p.name for p in launcher.home.iterdir()) == ["notes.txt"]


def test_patched_hook_then_os_system_runs_no_shell(launcher):
    marker = launcher.home / "shell-ran"
    r = launcher.run(UNHOOK + f"print('system returned', os.system('touch {marker}'))\n")
    assert r.status == OK and r.answer.startswith("system returned") and r.answer != "system returned 0", r
    assert_untouched(launcher)


def test_frame_globals_patch_then_write_outside(launcher):
    code = (
        "import sys\n"
        "g = sys._getframe(1).f_globals\n"
        "g['_inside'] = lambda path, write: True\n"
        f"open({str(launcher.user_file)!r}, 'w').write('pwned')\n"
    )
    r = launcher.run(code)
    assert r.status == ERROR and "FileNotFoundError" in r.stderr, r  # the hook let it through; the path is not there
    assert_untouched(launcher)


def test_posixsubprocess_fork_exec_is_contained(launcher):
    marker = launcher.home / "exec-ran"
    child = f"print('child ran'); open({str(marker)!r}, 'w')"
    code = (
        "import _posixsubprocess, os, sys\n"
        "r, w = os.pipe()\n"
        f"args = [sys.executable.encode(), b'-c', {child.encode()!r}]\n"
        "call = [args, [args[0]], True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, -1, None, None, None, -1, None]\n"
        "try:\n"
        "    pid = _posixsubprocess.fork_exec(*call, True)  # allow_vfork, in newer 3.11 and later\n"
        "except TypeError:\n"
        "    pid = _posixsubprocess.fork_exec(*call)\n"
        "os.close(w)\n"
        "print('exec failed' if os.read(r, 100) else 'exec ok')\n"
        "print('child exit', os.waitpid(pid, 0)[1])\n"
    )
    r = launcher.run(code)
    assert r.status == OK and "exec ok" in r.stdout and "child ran" in r.stdout, r  # it did run a new program
    assert "child exit 0" not in r.stdout and "FileNotFoundError" in r.stderr  # which could not reach the user's folder
    assert_untouched(launcher)


def test_rename_and_symlink_to_outside(launcher):
    target = launcher.user_file
    code = (
        "import os\n"
        "open('mine', 'w').write('pwned')\n"
        f"for step in (lambda: os.rename('mine', {str(target)!r}), lambda: os.symlink('/work/mine', {str(target) + '.link'!r})):\n"
        "    try:\n"
        "        step()\n"
        "        print('done')\n"
        "    except OSError as e:\n"
        "        print('refused', type(e).__name__)\n"
    )
    r = launcher.run(code)
    assert r.status == OK and r.stdout.split() == ["refused", "FileNotFoundError"] * 2, r
    assert_untouched(launcher)


def test_open_with_dir_fd_cannot_write_into_the_stdlib(launcher):
    stdlib = Path(sandbox.sandbox_capabilities()["read_only"][1])
    name = f"planted-{uuid.uuid4().hex}.py"
    code = (
        "import os\n"
        f"d = os.open({str(stdlib)!r}, os.O_RDONLY)\n"
        f"fd = os.open({name!r}, os.O_WRONLY | os.O_CREAT, dir_fd=d)\n"  # the hook checks ./name, not d/name
        "os.write(fd, b'print(1)')\n"
    )
    r = launcher.run(code)
    assert r.status == ERROR and "Read-only file system" in r.stderr, r
    assert not (stdlib / name).exists()


@pytest.mark.parametrize("parent", ["exits_at_once", "runs_into_the_deadline"])
def test_fork_setsid_leaves_no_process_alive(launcher, parent):
    marker = f"survivor-{uuid.uuid4().hex}"
    code = UNHOOK + (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])\n"
        "    os._exit(0)\n"
        "time.sleep(1)\n"
        "print('forked', flush=True)\n"
        + ("time.sleep(60)\n" if parent == "runs_into_the_deadline" else "")
    )
    r = launcher.run(code)
    assert "forked" in r.stdout, r
    assert not _processes_with(marker)


def _processes_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            pass  # gone meanwhile
    return found


def test_no_environment_of_any_other_process_is_readable(launcher):
    code = UNHOOK + (
        "seen = []\n"
        "for pid in [str(os.getppid())] + [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    try:\n"
        "        seen.append(open(f'/proc/{pid}/environ', 'rb').read().decode(errors='replace'))\n"
        "    except OSError as e:\n"
        "        seen.append(type(e).__name__)\n"
        "print(len([p for p in os.listdir('/proc') if p.isdigit()]), seen)\n"
    )
    r = launcher.run(code)
    assert r.status == OK and launcher.secret not in r.stdout + r.stderr, r
    assert int(r.stdout.split()[0]) <= 3  # bwrap's init, the program, nothing of the host


def test_loopback_http_server_is_unreachable(launcher):
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"reached")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = UNHOOK + (
            "import urllib.request\n"
            "try:\n"
            f"    print(urllib.request.urlopen('http://127.0.0.1:{server.server_port}/', timeout=2).read())\n"
            "except OSError as e:\n"
            "    print('unreachable', e)\n"
        )
        r = launcher.run(code)
    finally:
        server.shutdown()
        server.server_close()
    assert r.status == OK and r.answer.startswith("unreachable") and hits == [], r


def test_overwriting_a_file_of_the_user_is_contained(launcher):
    code = UNHOOK + (
        "import os\n"
        "try:\n"
        f"    open({str(launcher.user_file)!r}, 'w').write('pwned')\n"
        "    print('wrote')\n"
        "except OSError as e:\n"
        "    print('refused', type(e).__name__)\n"
    )
    r = launcher.run(code)
    assert r.status == OK and "wrote" not in r.stdout, r
    assert_untouched(launcher)


def test_fork_bomb_stops_at_the_process_limit(launcher):
    code = UNHOOK + (
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            os.pause()\n"
        "        n += 1\n"
        "except OSError as e:\n"
        "    print(n, type(e).__name__)\n"
    )
    r = launcher.run(code)
    forks, error = r.answer.split()
    assert r.status == OK and error == "BlockingIOError" and int(forks) < CFG.max_procs, r
