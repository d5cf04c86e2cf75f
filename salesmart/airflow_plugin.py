"""salesmart's Airflow plugin: the scheduler fails a run of a salesmart DAG
dated later than now as soon as it starts, instead of keeping it.

Airflow 3.3 accepts a trigger with a logical date in the future, starts the
run at once (it counts against max_active_runs) and then schedules none of
its tasks until that date: the run stays `running` with no tasks, and with
max_active_runs=1 every later run of the DAG waits behind it until someone
fails it by hand. No DAG setting sees a run's logical date before its tasks
run, so the refusal lives here, in the scheduler, through Airflow's listener
interface. The run is failed with a note saying why; its deadline, if any, is
dropped (nothing was due).

Airflow finds the plugin through the `airflow.plugins` entry point of the
installed salesmart package: installing salesmart where the scheduler runs
is enough.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import ClassVar

from airflow.listeners import hookimpl
from airflow.models import DagRun
from airflow.models.deadline import Deadline
from airflow.plugins_manager import AirflowPlugin
from airflow.utils.state import DagRunState
from sqlalchemy.orm import object_session

from salesmart.airflow_support import future_run_refusal

logger = logging.getLogger(__name__)


class FutureRunRefusal:
    """Listener: fails a salesmart run whose logical date is later than now when the scheduler starts it."""

    @hookimpl
    def on_dag_run_running(self, dag_run: DagRun) -> None:
        refusal = future_run_refusal(dag_run.dag_id, dag_run.run_id, dag_run.logical_date,
                                     datetime.now(UTC))
        if refusal is None:
            return
        logger.error("salesmart: %s", refusal)
        dag_run.set_state(DagRunState.FAILED)
        dag_run.note = refusal
        # The scheduler's session, committed with the state: a DeadlineAlert
        # would otherwise report the refused run's day as not loaded.
        Deadline.prune_deadlines(session=object_session(dag_run), conditions={DagRun.id: dag_run.id})


class SalesmartPlugin(AirflowPlugin):
    name = "salesmart"
    listeners: ClassVar[list[object]] = [FutureRunRefusal()]
