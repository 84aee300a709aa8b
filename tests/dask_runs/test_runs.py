"""Runs on a LocalCluster give what in-process runs give, bodies on the workers.

Results, errors, skips, guards, retries, timeouts and hooks: the runner
keeps the plan, hooks and retries; the workers run the bodies.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from distributed import SchedulerPlugin

from dask_runs import flows
from fiscus_dsl import (
    ClusterError,
    Hooks,
    PlanShippingError,
    Runner,
    RunStatus,
    Secret,
    TaskStatus,
    TaskTimeoutError,
    task,
    workflow,
)
from fiscus_dsl._users.user import FiscusUser
from fiscus_dsl.testing import mock_connectors, stub_task

if TYPE_CHECKING:
    from distributed import Client, Scheduler

    from fiscus_dsl.executors import DaskExecutor


def test_results_are_those_of_an_in_process_run(executor: DaskExecutor) -> None:
    on_dask = Runner(executor=executor).run(flows.arithmetic, n=50)
    here = Runner().run(flows.arithmetic, n=50)

    assert on_dask.status is RunStatus.SUCCEEDED
    assert on_dask.output == here.output == sum(2 * x * x for x in range(50))
    assert on_dask.statuses() == here.statuses()


def test_bodies_run_in_the_worker_processes(
    executor: DaskExecutor, client: Client
) -> None:
    pids = Runner(executor=executor).run(flows.where).output

    workers = set(client.run(os.getpid).values())
    assert pids is not None
    assert os.getpid() not in pids
    assert set(pids) <= workers


def test_a_failure_on_a_worker_fails_its_task_with_the_error(
    executor: DaskExecutor,
) -> None:
    result = Runner(executor=executor).run(flows.failing)

    assert result.status is RunStatus.FAILED
    failed = result["fail"]
    assert isinstance(failed.error, ValueError)
    assert str(failed.error) == "no good: 2"
    assert any(
        "raised on Dask worker tcp://" in note for note in failed.error.__notes__
    )


@pytest.mark.parametrize(("go", "second"), [(True, "succeeded"), (False, "skipped")])
def test_guards_and_skips_are_as_in_process(
    executor: DaskExecutor, *, go: bool, second: str
) -> None:
    result = Runner(executor=executor).run(flows.guarded, go=go)

    assert result.output == 2
    assert result["double#2"].status.value == second
    assert result["skip_me"].status is TaskStatus.SKIPPED
    assert "SkipTask" in str(result["skip_me"].reason)
    here = Runner().run(flows.guarded, go=go)
    assert result.statuses() == here.statuses()
    assert result["double#2"].reason == here["double#2"].reason


def test_retries_stay_in_the_runner_and_each_attempt_goes_to_a_worker(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    counter = tmp_path / "attempts"
    retried: list[int] = []
    hooks = Hooks(on_retry=lambda ctx, error, delay: retried.append(ctx.attempt))

    result = Runner(executor=executor, hooks=hooks).run(
        flows.retried, counter=str(counter)
    )

    assert result.output == 3
    assert result["flaky"].attempts == 3
    assert retried == [1, 2]  # the on_retry hook ran here, in the runner
    assert counter.read_text() == "3"


def test_a_body_past_its_timeout_fails_the_task(executor: DaskExecutor) -> None:
    result = Runner(executor=executor).run(flows.timing_out)

    assert isinstance(result["nap"].error, TaskTimeoutError)


def test_hooks_run_in_the_runner_around_the_body_on_a_worker(
    executor: DaskExecutor, client: Client
) -> None:
    @workflow(hooks=flows.HOOKS)
    def hooked() -> object:
        return flows.double(1)

    result = Runner(executor=executor).run(hooked)

    pair = result.output
    assert isinstance(pair, list)
    value, hook_pid = pair
    assert value == 22  # the before hook made x 11; the body doubled it
    assert hook_pid == os.getpid()
    assert hook_pid not in client.run(os.getpid).values()


def test_a_value_that_cannot_travel_back_fails_only_its_task(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    path = tmp_path / "data.txt"
    path.write_text("x")

    result = Runner(executor=executor).run(flows.unreturnable, path=str(path))

    error = result["opened"].error
    assert isinstance(error, ClusterError)
    assert "could not be sent back from Dask worker" in str(error)
    assert "'opened'" in str(error)


def test_a_closure_is_refused_before_anything_is_submitted(
    executor: DaskExecutor, client: Client, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"

    @task
    def local(x: int) -> int:
        return x

    @workflow
    def mixed() -> list[object]:
        return [flows.wait_for(str(marker), 0.0), local(1)]

    client.register_plugin(GraphRecorder())
    try:
        with pytest.raises(PlanShippingError) as raised:
            Runner(executor=executor).run(mixed)
        submitted = client.run_on_scheduler(_submitted)
    finally:
        client.unregister_scheduler_plugin(GraphRecorder.name)

    message = str(raised.value)
    assert "Cannot ship task 'local' of workflow 'mixed'" in message
    assert "defined inside a function" in message
    assert "define it at module level" in message
    assert submitted == []  # no batch reached the scheduler
    assert not Path(f"{marker}.started").exists()  # wait_for never ran


class GraphRecorder(SchedulerPlugin):
    """Keep the key of every task a client submits to the scheduler."""

    name = "fiscus-test-graphs"

    def __init__(self) -> None:
        self.keys: list[str] = []

    def update_graph(self, scheduler: Scheduler, **kwargs: Any) -> None:
        """Keep the keys of a graph a client sent."""
        del scheduler
        self.keys.extend(str(key) for key in kwargs.get("keys", ()))


def _submitted(dask_scheduler: Scheduler) -> list[str]:
    plugin = dask_scheduler.plugins[GraphRecorder.name]
    assert isinstance(plugin, GraphRecorder)
    return plugin.keys


def test_a_secret_argument_is_refused_and_nothing_is_sent(
    executor: DaskExecutor,
) -> None:
    @workflow
    def leaky() -> object:
        return flows.echo(Secret("s3cr3t-value"))

    result = Runner(executor=executor).run(leaky)

    error = result["echo"].error
    assert isinstance(error, PlanShippingError)
    assert "cannot be sent to Dask workers" in str(error)
    assert "Secret" in str(error)
    assert "s3cr3t-value" not in str(error)


def test_mocks_of_the_testing_kit_are_refused(executor: DaskExecutor) -> None:
    stub = stub_task(flows.double, returns=5)
    try:
        with pytest.raises(PlanShippingError) as stubbed:
            Runner(executor=executor).run(flows.arithmetic, n=2)
    finally:
        stub.restore()
    assert "mock of the testing kit" in str(stubbed.value)

    with mock_connectors(), pytest.raises(PlanShippingError) as mocked:
        Runner(executor=executor).run(flows.recorded, labels=["a"])
    assert "would reach the real API" in str(mocked.value)


def test_a_run_for_an_end_user_is_refused(executor: DaskExecutor) -> None:
    user = FiscusUser("user-7")

    with pytest.raises(PlanShippingError) as raised:
        Runner(executor=executor).run(flows.arithmetic, n=2, user=user)

    assert "runs for end user 'user-7'" in str(raised.value)
    assert "in-process executor" in str(raised.value)
