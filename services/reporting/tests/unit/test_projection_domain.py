"""The tie-break between two events of one work order at the same instant."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.workorders import WORK_ORDER_STATUSES, WorkOrderStatus
from riskwatch.reporting.projections.domain import snapshot_rank

statuses = st.sampled_from(WORK_ORDER_STATUSES)


@given(statuses, statuses)
def test_a_state_change_outranks_a_snapshot_of_the_same_instant(
    a: WorkOrderStatus, b: WorkOrderStatus
) -> None:
    assert snapshot_rank("state_changed", a) > snapshot_rank("overdue", b)
    assert snapshot_rank("overdue", a) > snapshot_rank("created", b)


def test_every_status_has_its_own_rank_further_along_the_loop_higher() -> None:
    ranks = [snapshot_rank("state_changed", s) for s in WORK_ORDER_STATUSES]
    assert len(set(ranks)) == len(WORK_ORDER_STATUSES)
    loop: list[WorkOrderStatus] = [
        "created",
        "dispatched",
        "accepted",
        "on_site",
        "cleared",
        "feedback",
        "reviewed",
    ]
    in_loop = [snapshot_rank("state_changed", s) for s in (*loop, "closed")]
    assert in_loop == sorted(in_loop)
    assert snapshot_rank("state_changed", "dispatched") > snapshot_rank("created", "dispatched")
