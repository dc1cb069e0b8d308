"""The instance's run launcher: Dagster's default one, plus a worker health check for run monitoring.

DefaultRunLauncher cannot tell whether a run's worker process is alive, so a run whose process is
killed (kill -9, out of memory) stays STARTED forever. This launcher looks up the worker's pid
(Dagster's own "Started process for run (pid: N)" engine event) and reports the run FAILED to the
monitoring daemon once that process is gone. Kept light: the daemon and webserver import it.
"""
import socket

import psutil
from dagster import DagsterEventType, DagsterRun
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, WorkerStatus

HOST_TAG = "corpus/run_worker_host"  # the host that started the worker: pids mean something there only
WORKER_STARTED = "Started process for run"  # Dagster's engine event (gRPC and CLI workers) carrying the pid


class MonitoredRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose runs the monitoring daemon marks FAILED when their worker dies."""

    def launch_run(self, context: LaunchRunContext) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, {HOST_TAG: socket.gethostname()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if run.tags.get(HOST_TAG, socket.gethostname()) != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker on another host: not checked from here")
        started = self._worker_start(run.run_id)
        if started is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker not started yet (start_timeout_seconds covers this)")
        pid, at = started
        try:
            proc = psutil.Process(pid)
            alive = proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= at + 1  # not a reused pid
        except psutil.NoSuchProcess:
            alive = False
        if alive:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker pid {pid} alive")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process (pid {pid}) is gone: killed or crashed mid-run")

    def _worker_start(self, run_id: str) -> tuple[int, float] | None:
        """(pid, timestamp) of the run's latest worker start, from its engine events."""
        for record in reversed(self._instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
            event = record.dagster_event
            if event and (event.message or "").startswith(WORKER_STARTED) and "pid" in event.engine_event_data.metadata:
                return int(event.engine_event_data.metadata["pid"].value), record.timestamp
        return None
