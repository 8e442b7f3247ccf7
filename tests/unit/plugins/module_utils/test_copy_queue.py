"""The copy queue against a fake EC2 with a fake clock: slots, AWS's limit, the deadline, sharing."""

import datetime
import threading

from fakes import Clock
from fakes import client_error

from ansible_collections.cloudops.aws.plugins.module_utils.copy_queue import CopyQueue
from ansible_collections.cloudops.aws.plugins.module_utils.copy_queue import CopyRequest

T0 = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.timezone.utc)
DR_ACCOUNT = "210987654321"


class FakeEC2:
    """Copies complete `duration` fake seconds after they start; AWS refuses more than `aws_limit` pending.

    `failing` maps source ids to the error code their CopySnapshot answers; unsharing answers
    `unshare_error` when set.
    """

    def __init__(self, clock, duration=10, aws_limit=20, failing=None):
        self.clock = clock
        self.duration = duration
        self.aws_limit = aws_limit
        self.failing = failing or {}
        self.unshare_error = None
        self.lock = threading.Lock()
        self.copies = {}
        self.sources = []
        self.sharing = []
        self.most_pending = 0
        self.refused = 0

    def _pending(self):
        return [i for i, started in self.copies.items() if self.clock() - started < self.duration]

    def copy_snapshot(self, aws_retry, SourceSnapshotId, **params):
        if SourceSnapshotId in self.failing:
            raise client_error(self.failing[SourceSnapshotId], "CopySnapshot")
        with self.lock:
            if len(self._pending()) >= self.aws_limit:
                self.refused += 1
                raise client_error("ResourceLimitExceeded", "CopySnapshot")
            snapshot_id = "snap-%017x" % (len(self.copies) + 1)
            self.copies[snapshot_id] = self.clock()
            self.sources.append(SourceSnapshotId)
            self.most_pending = max(self.most_pending, len(self._pending()))
            return {"SnapshotId": snapshot_id}

    def describe_snapshots(self, aws_retry, OwnerIds, Filters):
        wanted = set(Filters[0]["Values"])
        return {"Snapshots": [{"SnapshotId": i, "State": "pending" if self.clock() - started < self.duration else "completed", "StartTime": T0}
                              for i, started in self.copies.items() if i in wanted]}

    def modify_snapshot_attribute(self, aws_retry, SnapshotId, Attribute, OperationType, UserIds):
        if OperationType == "remove" and self.unshare_error:
            raise client_error(self.unshare_error, "ModifySnapshotAttribute")
        self.sharing.append((OperationType, SnapshotId, tuple(UserIds)))


def requests(count):
    return [CopyRequest("snap-source-%02d" % n, "copy %d" % n, {}) for n in range(count)]


def start(ec2, clock, count, max_in_flight=20, timeout=600, pending=(), **queue_options):
    queue = CopyQueue(ec2, ec2, "us-east-1", max_in_flight, 10, sleep=clock.sleep, clock=clock, **queue_options)
    return queue.start(requests(count), set(pending), clock() + timeout)


def test_the_queue_keeps_at_most_max_in_flight_pending():
    clock = Clock()
    ec2 = FakeEC2(clock)

    result = start(ec2, clock, 7, max_in_flight=3)

    assert len(result.started) == 7 and ec2.most_pending == 3 and ec2.refused == 0
    assert not result.failed and not result.queued


def test_copies_pending_before_the_run_take_slots():
    clock = Clock()
    ec2 = FakeEC2(clock)
    earlier = start(ec2, clock, 2).started

    result = start(ec2, clock, 2, max_in_flight=3, pending=earlier)

    assert len(result.started) == 2 and ec2.most_pending == 3


def test_resource_limit_exceeded_means_wait_not_fail_and_the_order_is_kept():
    clock = Clock()
    ec2 = FakeEC2(clock, aws_limit=2)

    result = start(ec2, clock, 6)

    assert len(result.started) == 6 and ec2.refused > 0 and ec2.most_pending == 2 and not result.failed
    assert ec2.sources == ["snap-source-%02d" % n for n in range(6)]


def test_sources_still_queued_at_the_deadline_are_handed_back():
    clock = Clock()
    ec2 = FakeEC2(clock, duration=1000)

    result = start(ec2, clock, 4, max_in_flight=1, timeout=60)

    assert len(result.started) == 1 and not result.failed and result.in_flight == 1
    assert [request.source_snapshot_id for request in result.queued] == ["snap-source-01", "snap-source-02", "snap-source-03"]
    assert clock.now == 60


def test_slots_are_polled_on_the_shared_schedule():
    clock = Clock()

    start(FakeEC2(clock, duration=100), clock, 3, max_in_flight=1)

    assert clock.sleeps[:6] == [2, 4, 8, 15, 15, 15]


def test_each_copy_is_told_as_it_starts_so_its_group_can_be_pruned_before_the_queue_ends():
    clock = Clock()
    ec2 = FakeEC2(clock, duration=3)
    told = []
    queue = CopyQueue(ec2, ec2, "us-east-1", 1, 10, sleep=clock.sleep, clock=clock)

    result = queue.start(requests(3), set(), 600, on_started=lambda copy_id, request: told.append((clock(), copy_id, request.source_snapshot_id)))

    # One slot: each copy starts once the one before has completed, and is told then, not at the end.
    assert [(at, source) for at, _copy_id, source in told] == [(0, "snap-source-00"), (6, "snap-source-01"), (12, "snap-source-02")]
    assert {copy_id for _at, copy_id, _source in told} == set(result.started)


def test_a_round_that_frees_slots_starts_the_schedule_again():
    clock = Clock()

    start(FakeEC2(clock, duration=3), clock, 4, max_in_flight=1)

    # Each copy takes 3 s: seen completed after 2 + 4 s, and the next copy's rounds start at 2 s again.
    assert clock.sleeps == [2, 4, 2, 4, 2, 4]


def test_another_error_fails_that_source_only():
    clock = Clock()
    ec2 = FakeEC2(clock, failing={"snap-source-01": "IncorrectState"})

    result = start(ec2, clock, 3)

    assert sorted(request.source_snapshot_id for request in result.started.values()) == ["snap-source-00", "snap-source-02"]
    assert [(request.source_snapshot_id, error.response["Error"]["Code"]) for request, error in result.failed] == [("snap-source-01", "IncorrectState")]


def test_a_source_is_shared_for_its_copy_and_unshared_when_the_copy_cannot_start():
    clock = Clock()
    ec2 = FakeEC2(clock, failing={"snap-source-01": "InvalidParameterValue"})

    result = start(ec2, clock, 2, share_with=DR_ACCOUNT)

    assert len(result.started) == 1 and not result.warnings
    assert sorted(ec2.sharing) == [("add", "snap-source-00", (DR_ACCOUNT,)), ("add", "snap-source-01", (DR_ACCOUNT,)),
                                   ("remove", "snap-source-01", (DR_ACCOUNT,))]


def test_a_source_that_cannot_be_unshared_is_a_warning_and_the_copy_error_is_kept():
    clock = Clock()
    ec2 = FakeEC2(clock, failing={"snap-source-00": "InvalidParameterValue"})
    ec2.unshare_error = "InternalError"

    result = start(ec2, clock, 1, share_with=DR_ACCOUNT)

    assert [error.response["Error"]["Code"] for _request, error in result.failed] == ["InvalidParameterValue"]
    assert result.warnings == ["could not stop sharing snap-source-00 with account %s: " % DR_ACCOUNT
                               + str(client_error("InternalError", "ModifySnapshotAttribute"))]
