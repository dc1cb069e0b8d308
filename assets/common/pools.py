"""Op-level pools (`gpu`): free slots go to the steps Dagster's claim race leaves queued beside them."""

import dagster as dg


def assign_free_slots(instance: dg.DagsterInstance) -> list[tuple[str, str, str]]:
    """Give each pool's free slot to its next queued step; returns (pool, run_id, step_key) of each
    step that got one. Dagster's step claim counts the free slots, then queues the step, in two
    statements: when another run frees the slot between them, nothing assigns it to the queued step,
    which then waits forever beside a free slot, one core busy (a worker of tests/test_runner_jobs.py
    spun 18 minutes so on 2026-12-05). This is what Dagster's own release does (`has_unassigned_slots`:
    more slots than assigned steps); the slot rows stay the semaphore, so at most the pool's limit run."""
    storage = instance.event_log_storage
    if not hasattr(storage, "has_unassigned_slots"):  # not a SQL event log: no such queue
        return []
    given = []
    for pool in storage.get_concurrency_keys():
        if not storage.has_unassigned_slots(pool):
            continue
        waiting = {(s.run_id, s.step_key) for s in storage.get_concurrency_info(pool).pending_steps if s.assigned_timestamp is None}
        if not waiting:
            continue
        storage.assign_pending_steps([pool])
        now = {(s.run_id, s.step_key) for s in storage.get_concurrency_info(pool).pending_steps if s.assigned_timestamp is None}
        given += [(pool, run_id, step_key) for run_id, step_key in sorted(waiting - now)]
    return given


@dg.sensor(
    name="pool_slots_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Gives a pool's free slot to a step that a race in Dagster's step claim left queued beside "
    "it (`gpu` pool stages: rebuild, scoring, perplexity); without it that run waits forever with one core "
    "busy. Requests no runs. On by default: the daemon evaluates it every 30 s.",
)
def pool_slots_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    given = assign_free_slots(context.instance)
    for pool, run_id, step_key in given:
        context.log.warning(f"gave a free `{pool}` slot to step {step_key} of run {run_id}, queued beside it by Dagster's claim race")
    if given:
        return dg.SkipReason(f"gave {len(given)} free pool slot(s) to queued steps: "
                             + ", ".join(f"{step} of run {run[:8]} ({pool})" for pool, run, step in given))
    return dg.SkipReason("no pool has a free slot beside a queued step")
