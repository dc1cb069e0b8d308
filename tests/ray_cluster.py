"""A real two-node Ray cluster on loopback for the tests: a head and a second `ray start` worker
process, inside a network namespace the tests create, so Ray binds to 127.0.0.1 and nothing
leaves the machine (Ray otherwise binds to the machine's own address). Drivers that talk to it
run in the same namespace through `Cluster.run`. Stopped with `ray stop` in that namespace.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAD_PORT = 6394


def available() -> str | None:
    """Why a namespaced cluster cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "creating a network namespace needs root (CI runs as root)"
    for tool in ("ip", "unshare"):
        if not shutil.which(tool):
            return f"`{tool}` (iproute2 / util-linux) is not installed"
    return None


@dataclass
class Cluster:
    netns: str
    env: dict
    address: str = f"127.0.0.1:{HEAD_PORT}"

    def exec(self, *cmd: str, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.netns, *cmd], env=self.env, check=check, timeout=timeout,
                              capture_output=True, text=True, **kw)

    def run(self, scenario: str, *args: str, timeout: float = 300) -> dict:
        """Run `python -m tests.ray_driver SCENARIO ARGS` in the namespace; its result is the JSON of its
        `RESULT ` line (Ray may print to the driver's stdout too)."""
        proc = self.exec(sys.executable, "-m", "tests.ray_driver", scenario, *args, check=False, timeout=timeout, cwd=REPO)
        if proc.returncode != 0:
            raise AssertionError(f"driver {scenario} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
        results = [line[len("RESULT "):] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if not results:
            raise AssertionError(f"driver {scenario} printed no result:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return json.loads(results[-1])



def start(workdir: Path) -> Cluster:
    name = f"corpus-ray-{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="cr", dir="/tmp"))  # short: Ray's socket paths have a length limit
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_TMPDIR": str(tmp), "RAY_USAGE_STATS_ENABLED": "0",
           "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "PYTHONPATH": str(REPO)}
    subprocess.run(["ip", "netns", "add", name], check=True)
    cluster = Cluster(name, env)
    try:
        cluster.exec("ip", "link", "set", "lo", "up")
        cluster.exec("ray", "get-auth-token", "--generate", check=False)
        common = ["--num-cpus=1", "--object-store-memory=150000000", "--disable-usage-stats"]
        cluster.exec("ray", "start", "--head", f"--port={HEAD_PORT}", "--include-dashboard=false", *common, timeout=180)
        cluster.exec("ray", "start", f"--address={cluster.address}", *common, timeout=180)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if cluster.run("nodes")["alive"] == 2:
                return cluster
            time.sleep(1)
        raise RuntimeError("the second Ray node did not join within 60 s")
    except BaseException:
        stop(cluster)
        raise


def stop(cluster: Cluster) -> None:
    cluster.exec("ray", "stop", "--force", check=False, timeout=120)
    subprocess.run(["ip", "netns", "delete", cluster.netns], check=False)
    shutil.rmtree(cluster.env["RAY_TMPDIR"], ignore_errors=True)
