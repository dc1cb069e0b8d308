"""`one_ray_for_all_runs` (the demo's Ray): start one local instance or attach, and every run's engine
reuses the connection. A stand-in `ray` module records what would be started and stopped, so this
runs in milliseconds; the real thing is `CORPUS_ENGINE=ray make demo`."""
import os
import sys
import types

import dagster as dg
import pytest

from assets.common.engine import CorpusEngine, one_ray_for_all_runs


class FakeRay(types.ModuleType):
    """The few calls the engine makes to connect, describe and stop; `calls` records init/shutdown."""

    def __init__(self):
        super().__init__("ray")
        self.calls: list[tuple] = []
        self.up = False
        self.constants = types.ModuleType("ray._private.ray_constants")
        self.constants.ENABLE_RAY_CLUSTER = True  # Ray's default on Linux
        self.private = types.ModuleType("ray._private")
        self.private.ray_constants = self.constants
        self.util = types.ModuleType("ray.util")
        self.util.register_serializer = lambda cls, **_: None  # frames as Arrow: nothing to start or stop

    def is_initialized(self):
        return self.up

    def init(self, address=None, **_):
        # a local instance must start in single-node mode (binds 127.0.0.1); an attach leaves the mode alone
        self.calls.append(("init", address, "single-node" if not self.constants.ENABLE_RAY_CLUSTER else "cluster"))
        self.up = True

    def shutdown(self):
        self.calls.append(("shutdown",))
        self.up = False

    def cluster_resources(self):
        return {"CPU": 3.0}

    def get_runtime_context(self):
        return types.SimpleNamespace(gcs_address="127.0.0.1:40001")


@pytest.fixture
def fake_ray(monkeypatch):
    ray = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray._private", ray.private)
    monkeypatch.setitem(sys.modules, "ray._private.ray_constants", ray.constants)
    monkeypatch.setitem(sys.modules, "ray.util", ray.util)
    for var in ("RAY_TMPDIR", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):  # restored after the test, whatever connect sets
        monkeypatch.delenv(var, raising=False)
    return ray


def run_stage_engine(address=""):
    """What one demo run does with its own `engine` resource (the same settings): build it for the run, connect."""
    with CorpusEngine(kind="ray", address=address).yield_for_execution(dg.build_init_resource_context()) as resource:
        resource.engine.connect()


def test_no_address_starts_one_instance_for_all_runs_and_stops_it(fake_ray):
    with one_ray_for_all_runs(CorpusEngine(kind="ray", address="")) as line:
        session_dir = os.environ["RAY_TMPDIR"]
        assert os.path.isdir(session_dir)
        run_stage_engine()
        run_stage_engine()
        assert fake_ray.calls == [("init", "local", "single-node")]  # the runs reused it, and did not stop it
    assert fake_ray.calls == [("init", "local", "single-node"), ("shutdown",)]
    # the mode was switched for that init only, and nothing leaks into the environment of later `ray start`s
    assert fake_ray.constants.ENABLE_RAY_CLUSTER and "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ
    assert line == "engine: ray, cluster 127.0.0.1:40001 (started for these runs), 3 CPUs"
    assert not os.path.exists(session_dir) and "RAY_TMPDIR" not in os.environ


def test_the_started_instance_is_stopped_on_ctrl_c(fake_ray):
    with pytest.raises(KeyboardInterrupt), one_ray_for_all_runs(CorpusEngine(kind="ray", address="")):
        session_dir = os.environ["RAY_TMPDIR"]
        run_stage_engine()
        raise KeyboardInterrupt
    assert fake_ray.calls == [("init", "local", "single-node"), ("shutdown",)]
    assert not os.path.exists(session_dir)


def test_an_address_attaches_and_starts_nothing(fake_ray):
    with one_ray_for_all_runs(CorpusEngine(kind="ray", address="10.1.2.3:6379")) as line:
        assert "RAY_TMPDIR" not in os.environ
        run_stage_engine("10.1.2.3:6379")
    assert fake_ray.calls == [("init", "10.1.2.3:6379", "cluster")]  # no local instance, and the cluster is left running
    assert line == "engine: ray, cluster 10.1.2.3:6379 (attached), 3 CPUs"
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ  # a remote cluster needs the machine's address


def test_the_local_engine_needs_no_ray(fake_ray):
    with one_ray_for_all_runs(CorpusEngine(kind="local")) as line:
        pass
    assert line == "engine: local" and fake_ray.calls == []
