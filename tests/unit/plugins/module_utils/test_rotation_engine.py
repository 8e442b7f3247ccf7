"""The rotation engine on a fake resource: the sequence, without AWS or the simulator.

The fake keeps its backups in a dict, as AWS would hold them, and each test asserts on what is
left there, not only on the run's report.
"""

import datetime
import itertools
import threading

import pytest
from fakes import Clock

from ansible_collections.cloudops.aws.plugins.module_utils import rotation_engine
from ansible_collections.cloudops.aws.plugins.module_utils.retention import RetentionPolicy
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import BackupAdapter
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import Request
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import ResultKeys
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import RotationRun
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings

NOW = datetime.datetime(2026, 11, 23, 3, 0, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


class FakeBackups(BackupAdapter):
    """Backups of sources "a", "b", ... kept in `store`; `fail_create`, `end_state` and `twin` script AWS."""

    id_key = "backup_id"
    finished_state = "available"
    keys = ResultKeys(created="created", removed="removed", retained="retained", protected="protected", skipped="skipped")
    marks_twins = True
    create_action = "CreateBackup"
    remove_action = "RemoveBackup"
    diff_key = "backups"

    def __init__(self, store, ids):
        self.store = store
        self.ids = ids
        self.fail_create = set()
        self.fail_remove = set()
        self.end_state = {}
        self.twin = set()
        self.in_use = {}
        self.calls = []

    def describe(self):
        self.calls.append("describe")
        return [dict(backup) for backup in self.store.values()]

    def describe_groups(self, keys):
        # As AmiBackups does: a batch reads its own sources' backups only.
        self.calls.append("describe " + ",".join(keys))
        return [dict(backup) for backup in self.store.values() if backup["source"] in keys]

    def group_of(self, backup):
        return backup["source"]

    def labels(self, backup):
        return {"source": backup["source"]}

    def group_keys(self, subjects):
        return sorted(subjects)

    def requests(self, subjects, run):
        return [Request(source, {source: {"source": source}}, run.now) for source in subjects]

    def _make(self, source, run, state="pending"):
        backup_id = "bk-%d" % next(self.ids)
        self.store[backup_id] = {"backup_id": backup_id, "source": source, "created_at": run.now, "state": state, "managed": True,
                                 "description": run.mark.stamp("backup of " + source)}
        return backup_id

    def create(self, request, run):
        source = request.subject
        self.calls.append("create " + source)
        if source in self.fail_create:
            raise RuntimeError("no capacity for " + source)
        if source in self.twin:
            # AWS acted on a request whose answer was lost; the retry made the backup answered with.
            self._make(source, run)
        backup_id = self._make(source, run)
        return {backup_id: dict(self.store[backup_id])}

    def wait(self, backup_ids, timeout):
        for backup_id in backup_ids:
            source = self.store[backup_id]["source"]
            self.store[backup_id]["state"] = self.end_state.get(source, "available")
        # Twins made by lost answers finish too.
        for backup in self.store.values():
            if backup["state"] == "pending" and backup["source"] in self.twin:
                backup["state"] = self.end_state.get(backup["source"], "available")
        return {backup_id: dict(self.store[backup_id]) for backup_id in backup_ids}

    def remove(self, backup):
        self.calls.append("remove " + backup["backup_id"])
        if backup["source"] in self.fail_remove:
            raise RuntimeError("refused")
        del self.store[backup["backup_id"]]

    def find_references(self, backup_ids):
        return {backup_id: self.in_use[backup_id] for backup_id in backup_ids if backup_id in self.in_use}

    def entry(self, backup, **extra):
        return dict({"backup_id": backup["backup_id"], "source": backup["source"], "state": backup["state"]}, **extra)

    def planned_entries(self, request, state):
        return [{"backup_id": None, "source": request.subject, "state": state}]

    def diff_line(self, entry):
        return "%s %s" % (entry["backup_id"] or "(new)", entry["source"])


@pytest.fixture
def store():
    return {}


@pytest.fixture
def ids():
    return itertools.count(1)


def settings(**changes):
    values = dict(policy="daily", retention=RetentionPolicy(keep_last=2), max_concurrency=2)
    values.update(changes)
    return RotationSettings(**values)


def history(store, source, days_ago, state="available", managed=True, description="", backup_id=None):
    backup_id = backup_id or "old-%s-%d" % (source, days_ago)
    store[backup_id] = {"backup_id": backup_id, "source": source, "created_at": NOW - days_ago * DAY, "state": state,
                        "managed": managed, "description": description}
    return backup_id


def run_once(store, ids, subjects, now=NOW, check=False, prepare=None, **changes):
    adapter = FakeBackups(store, ids)
    if prepare:
        prepare(adapter)
    run = RotationRun(adapter, settings(**changes), now)
    result = run.preview(subjects) if check else run.run(subjects)
    return run, result, adapter


def by_source(store):
    found = {}
    for backup in store.values():
        found.setdefault(backup["source"], []).append(backup["backup_id"])
    return {source: sorted(found[source]) for source in sorted(found)}


def test_a_run_creates_one_backup_per_source_and_prunes_to_the_policy(store, ids):
    history(store, "a", 2)
    history(store, "a", 1)
    history(store, "b", 1)

    _run, result, _adapter = run_once(store, ids, ["a", "b"])

    assert by_source(store) == {"a": ["bk-1", "old-a-1"], "b": ["bk-2", "old-b-1"]}
    assert [entry["backup_id"] for entry in result["removed"]] == ["old-a-2"]
    assert result["failures"] == []


def test_a_failed_create_fails_its_source_only_and_leaves_its_group_unpruned(store, ids):
    old = [history(store, "a", days) for days in (3, 2, 1)]
    history(store, "b", 2)
    history(store, "b", 1)

    _run, result, _adapter = run_once(store, ids, ["a", "b"], prepare=lambda adapter: adapter.fail_create.add("a"))

    assert sorted(by_source(store)["a"]) == sorted(old)
    assert by_source(store)["b"] == ["bk-1", "old-b-1"]
    assert result["failures"] == [{"source": "a", "error": "CreateBackup: no capacity for a"}]


def test_a_backup_that_ends_failed_is_a_failure_and_its_group_is_not_pruned(store, ids):
    old = [history(store, "a", days) for days in (3, 2, 1)]

    _run, result, _adapter = run_once(store, ids, ["a"], prepare=lambda adapter: adapter.end_state.update(a="failed"))

    assert set(old) <= set(by_source(store)["a"])
    assert result["failures"] == [{"source": "a", "error": "bk-1 ended failed"}]
    assert result["removed"] == []


def test_a_backup_still_pending_is_kept_and_does_not_push_a_generation_out(store, ids):
    old = [history(store, "a", days) for days in (2, 1)]

    run, result, _adapter = run_once(store, ids, ["a"], prepare=lambda adapter: adapter.end_state.update(a="pending"))

    assert by_source(store)["a"] == sorted(["bk-1"] + old)
    assert result["removed"] == [] and result["failures"] == []
    assert "still pending after wait_timeout" in run.warnings[0]


def test_a_twin_from_a_lost_answer_is_removed_and_the_answered_backup_kept(store, ids):
    history(store, "a", 1)

    _run, result, _adapter = run_once(store, ids, ["a"], prepare=lambda adapter: adapter.twin.add("a"))

    # bk-1 was made by the request whose answer was lost; bk-2 is the one AWS answered with.
    assert by_source(store) == {"a": ["bk-2", "old-a-1"]}
    assert [(entry["backup_id"], entry["reason"]) for entry in result["removed"]] == [("bk-1", "duplicate of bk-2 made by a retried request")]


def test_twins_a_killed_run_left_are_settled_by_the_next_run(store, ids):
    history(store, "a", 1, description="backup of a [run 0123456789ab]")
    history(store, "a", 1, description="backup of a [run 0123456789ab]", backup_id="old-a-1-twin")

    _run, result, _adapter = run_once(store, ids, ["a"], retention=RetentionPolicy(keep_last=3))

    assert by_source(store) == {"a": ["bk-1", "old-a-1"]}
    assert [entry["backup_id"] for entry in result["removed"]] == ["old-a-1-twin"]


def test_a_run_killed_between_create_and_prune_is_repaired_by_the_next(store, ids):
    for days in (3, 2, 1):
        history(store, "a", days)
    # The killed run: it created a backup, which finished, and never pruned.
    history(store, "a", 0)

    _run, result, _adapter = run_once(store, ids, ["a"], now=NOW + DAY)

    assert by_source(store) == {"a": ["bk-1", "old-a-0"]}
    assert sorted(entry["backup_id"] for entry in result["removed"]) == ["old-a-1", "old-a-2", "old-a-3"]


def test_two_overlapping_runs_keep_one_backup_and_each_removes_only_its_own(store, ids):
    history(store, "a", 2)
    history(store, "a", 1)
    window = datetime.timedelta(hours=1)
    first = RotationRun(FakeBackups(store, ids), settings(min_interval=window), NOW)
    second = RotationRun(FakeBackups(store, ids), settings(min_interval=window), NOW + datetime.timedelta(seconds=5))
    # Both read before either created: neither sees the other's backup when choosing.
    first_requests = first._choose(["a"], first._groups(first._read()))
    second_requests = second._choose(["a"], second._groups(second._read()))
    assert len(first_requests) == len(second_requests) == 1

    created = {run: run.adapter.create_all(requests, run) for run, requests in ((first, first_requests), (second, second_requests))}
    for run in (first, second):
        run._wait(created[run])
    for run in (second, first):
        run.selected_groups = ["a"]
        groups, own = run.adapter.settle(run._groups(run._read()), created[run], run)
        run._remove(own + run._plan(groups))

    # The older run's backup (bk-1, made at NOW) is kept; the younger run removed its own, bk-2,
    # and neither counted the duplicate as a generation, so both older generations are left.
    assert by_source(store) == {"a": ["bk-1", "old-a-1"]}
    assert [e["backup_id"] for e in second.result["removed"]] == ["bk-2", "old-a-2"]
    assert second.result["removed"][0]["reason"].startswith("duplicate: an overlapping run made bk-1")
    assert first.result["removed"] == []


def test_min_interval_skips_a_source_with_a_recent_backup_without_creating(store, ids):
    history(store, "a", 0)
    store["old-a-0"]["created_at"] = NOW - datetime.timedelta(hours=3)

    _run, result, adapter = run_once(store, ids, ["a"], min_interval=datetime.timedelta(hours=20))

    assert not any(call.startswith("create") for call in adapter.calls)
    assert result["skipped"][0]["source"] == "a"
    assert result["skipped"][0]["reason"].startswith("min_interval: newest generation old-a-0")


def test_a_backup_the_policy_would_not_keep_is_never_created(store, ids):
    # Two newer generations exist already; a backup dated before them is outside keep_last 2.
    history(store, "a", 2)
    history(store, "a", 1)

    adapter = FakeBackups(store, ids)
    run = RotationRun(adapter, settings(), NOW)
    adapter.requests = lambda subjects, run: [Request("a", {"a": {"source": "a"}}, NOW - 3 * DAY)]
    result = run.run(["a"])

    assert by_source(store) == {"a": ["old-a-1", "old-a-2"]}
    assert adapter.calls == ["describe", "describe a"]
    assert result["skipped"][0]["reason"].startswith("retention would not keep its backup: not selected by retention")


def test_a_backup_in_use_is_protected_not_removed(store, ids):
    oldest = history(store, "a", 2)
    history(store, "a", 1)

    _run, result, _adapter = run_once(store, ids, ["a"], prepare=lambda adapter: adapter.in_use.update({oldest: "used by i-1"}))

    assert oldest in by_source(store)["a"]
    assert [entry["backup_id"] for entry in result["protected"]] == [oldest]


def test_a_failed_removal_is_reported_and_the_other_groups_still_pruned(store, ids):
    history(store, "a", 2)
    history(store, "a", 1)
    history(store, "b", 2)
    history(store, "b", 1)

    _run, result, _adapter = run_once(store, ids, ["a", "b"], prepare=lambda adapter: adapter.fail_remove.add("a"))

    assert "old-a-2" in by_source(store)["a"] and "old-b-2" not in by_source(store)["b"]
    assert result["failures"] == [{"source": "a", "error": "RemoveBackup old-a-2: refused"}]


def test_check_mode_plans_exactly_what_a_run_does_and_changes_nothing(store, ids):
    for days in (3, 2, 1):
        history(store, "a", days)
    before = {key: dict(value) for key, value in store.items()}

    run, preview, adapter = run_once(store, ids, ["a"], check=True)

    assert store == before and adapter.calls == ["describe"]
    assert [entry["backup_id"] for entry in preview["removed"]] == ["old-a-2", "old-a-3"]
    assert preview["created"] == [{"backup_id": None, "source": "a", "state": "planned"}]
    assert run.diff() == {"before": {"backups": ["old-a-1 a", "old-a-2 a", "old-a-3 a"]}, "after": {"backups": ["(new) a", "old-a-1 a"]}}

    _run, result, _adapter = run_once(store, ids, ["a"])
    assert [entry["backup_id"] for entry in result["removed"]] == [entry["backup_id"] for entry in preview["removed"]]


def test_a_second_run_with_min_interval_changes_nothing(store, ids):
    history(store, "a", 1)
    window = datetime.timedelta(hours=20)
    run_once(store, ids, ["a"], min_interval=window)
    after_first = by_source(store)

    _run, result, adapter = run_once(store, ids, ["a"], min_interval=window)

    assert by_source(store) == after_first
    assert adapter.calls == ["describe", "describe a"]
    assert result["created"] == [] and result["removed"] == []


def test_keep_verified_keeps_the_newest_drilled_backups_the_policy_would_remove(store, ids):
    for days in (4, 3, 2, 1):
        history(store, "a", days)
    for backup_id, result in (("old-a-4", "passed"), ("old-a-3", "passed"), ("old-a-2", "failed")):
        store[backup_id]["tags"] = {"cloudops:verify-result": result, "cloudops:verified-at": "2026-11-22T04:00:00Z"}

    _run, preview, _adapter = run_once(store, ids, ["a"], check=True, keep_verified=1)
    _run, result, _adapter = run_once(store, ids, ["a"], keep_verified=1)

    # keep_last 2: the new backup and old-a-1; keep_verified 1: old-a-3, the newest that passed.
    assert sorted(by_source(store)["a"]) == ["bk-1", "old-a-1", "old-a-3"]
    assert [entry["backup_id"] for entry in result["removed"]] == ["old-a-2", "old-a-4"]
    assert [entry["backup_id"] for entry in preview["removed"]] == ["old-a-2", "old-a-4"]
    kept = {entry["backup_id"]: entry["reason"] for entry in result["retained"]}
    assert kept["old-a-3"] == "keep_verified (1 of 1): restore drill passed 2026-11-22T04:00:00Z"
    assert result["protected"] == []


def test_groups_are_pruned_as_their_backups_finish_while_later_ones_are_still_created(store, ids, monkeypatch):
    monkeypatch.setattr(rotation_engine, "PRUNE_BATCH", 2)
    monkeypatch.setattr(rotation_engine, "POLL_WHILE_CREATING", 0.01)
    for source in "abc":
        history(store, source, 2)
        history(store, source, 1)
    pruned = threading.Event()

    def prepare(adapter):
        create, remove = adapter.create, adapter.remove

        def slow_create(request, run):
            if request.subject == "c":
                # c's create answers only once a's and b's oldest generations are gone (or after 5 s).
                pruned.wait(5)
            return create(request, run)

        def watched_remove(backup):
            remove(backup)
            if not {"old-a-2", "old-b-2"} & set(store):
                pruned.set()

        adapter.create, adapter.remove = slow_create, watched_remove

    _run, result, adapter = run_once(store, ids, ["a", "b", "c"], prepare=prepare)

    assert by_source(store) == {"a": ["bk-1", "old-a-1"], "b": ["bk-2", "old-b-1"], "c": ["bk-3", "old-c-1"]}
    assert adapter.calls.index("create c") > max(adapter.calls.index("remove old-a-2"), adapter.calls.index("remove old-b-2"))
    # One read of every backup to choose, then one of the batch of a and b, and one of the last batch (c).
    assert [call for call in adapter.calls if call.startswith("describe")] == ["describe", "describe a,b", "describe c"]
    assert sorted(entry["backup_id"] for entry in result["removed"]) == ["old-a-2", "old-b-2", "old-c-2"]
    assert [entry["backup_id"] for entry in result["created"]] == ["bk-1", "bk-2", "bk-3"] and result["failures"] == []


class TimedBackups(FakeBackups):
    """Each create takes 0.6 s of a fake clock; a backup is finished 1 s after its create answers; wait polls every 2 s."""

    def __init__(self, store, ids, clock):
        super().__init__(store, ids)
        self.clock = clock
        self.due = {}
        self.reads = []

    def create(self, request, run):
        self.clock.now += 0.6
        made = super().create(request, run)
        self.due.update((backup_id, self.clock.now + 1.0) for backup_id in made)
        return made

    def wait(self, backup_ids, timeout):
        deadline = self.clock() + timeout
        while True:
            self.reads.append((round(self.clock(), 2), list(backup_ids)))
            for backup_id in backup_ids:
                if self.clock() >= self.due[backup_id]:
                    self.store[backup_id]["state"] = "available"
            if all(self.store[backup_id]["state"] != "pending" for backup_id in backup_ids) or self.clock() >= deadline:
                return {backup_id: dict(self.store[backup_id]) for backup_id in backup_ids}
            self.clock.sleep(min(2, deadline - self.clock()))


def test_once_the_creates_end_the_finished_groups_are_pruned_and_the_last_backups_read_when_due(store, ids):
    for source in "abc":
        history(store, source, 2)
        history(store, source, 1)
    clock = Clock()
    adapter = TimedBackups(store, ids, clock)
    result = RotationRun(adapter, settings(max_concurrency=1), NOW, clock=clock, sleep=clock.sleep).run(["a", "b", "c"])

    assert by_source(store) == {"a": ["bk-1", "old-a-1"], "b": ["bk-2", "old-b-1"], "c": ["bk-3", "old-c-1"]}
    # The creates answer at 0.6, 1.2 and 1.8 s. At 1.8 s a's backup is found finished, 1.2 s after
    # its create answered, and a is pruned while b's and c's are pending; c's is due at
    # 1.8 + 1.2 s (+10%): one sleep until then, and the next read finds both finished.
    assert adapter.reads == [(1.8, ["bk-1", "bk-2", "bk-3"]), (3.12, ["bk-2", "bk-3"])]
    assert clock.sleeps == [pytest.approx(1.32)]
    assert adapter.calls.index("remove old-a-2") < adapter.calls.index("remove old-b-2")
    # One read to choose, one for a, one for b and c; none once every group is pruned.
    assert [call for call in adapter.calls if call.startswith("describe")] == ["describe", "describe a", "describe b,c"]
    assert sorted(entry["backup_id"] for entry in result["removed"]) == ["old-a-2", "old-b-2", "old-c-2"]
    assert [entry["state"] for entry in result["created"]] == ["available"] * 3 and result["failures"] == []
