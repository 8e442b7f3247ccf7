import datetime
import threading
import time

from ansible_collections.cloudops.aws.plugins.module_utils.ownership import created_at_of
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import is_managed
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import ownership_tags
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

UTC = datetime.timezone.utc


def test_ownership_tags_carry_the_scheme_and_lineage():
    tags = ownership_tags("daily", datetime.datetime(2026, 11, 23, 3, 15, 7, 999, tzinfo=UTC), source_instance="i-1")
    assert tags == {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": "daily",
                    "cloudops:created-at": "2026-11-23T03:15:07Z", "cloudops:source-instance": "i-1"}
    assert is_managed(tags)
    assert not is_managed({"cloudops:managed-by": "someone-else"})


def test_created_at_prefers_the_tag_and_falls_back_to_aws_time():
    assert created_at_of({"cloudops:created-at": "2026-11-01T00:00:00Z"}, "2026-11-23T00:00:00.000Z") == datetime.datetime(2026, 11, 1, tzinfo=UTC)
    assert created_at_of({"cloudops:created-at": "garbage"}, "2026-11-23T00:00:00.000Z") == datetime.datetime(2026, 11, 23, tzinfo=UTC)
    assert created_at_of({}, "2026-11-23T01:02:03.000Z") == datetime.datetime(2026, 11, 23, 1, 2, 3, tzinfo=UTC)


def test_run_bounded_keeps_order_isolates_failures_and_bounds_concurrency():
    lock = threading.Lock()
    state = {"running": 0, "peak": 0}

    def work(item):
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        time.sleep(0.02)
        with lock:
            state["running"] -= 1
        if item == 3:
            raise RuntimeError("boom on 3")
        return item * 10

    outcomes = run_bounded(work, range(8), max_concurrency=3)

    assert [o.item for o in outcomes] == list(range(8))
    assert [o.value for o in outcomes if o.ok] == [0, 10, 20, 40, 50, 60, 70]
    assert str(outcomes[3].error) == "boom on 3"
    assert state["peak"] == 3
