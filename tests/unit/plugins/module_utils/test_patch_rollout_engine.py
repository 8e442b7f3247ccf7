"""The patch_rollout sequence on an in-memory account (patching_fakes): scan, waves, draining, failures, rollback,
stopped instances. Each test asserts what the account holds afterwards, and the order things happened in."""

import datetime

import pytest
from botocore.exceptions import ClientError

from fakes import Clock
from fakes import client_error
from patching_fakes import NOW
from patching_fakes import FakeAws

from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout import Clients
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout import PatchRollout
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout_settings import PatchRolloutSettings
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.service_marks import marks_of
from ansible_collections.cloudops.aws.plugins.module_utils.service_marks import registrations_from_tags
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import Registration
from ansible_collections.cloudops.aws.plugins.module_utils.waves import WavePlanError


def settings(**changes):
    params = {name: spec.get("default") for name, spec in argument_spec().items()}
    retention = changes.pop("pre_image_retention", {"keep_last": 3})
    params["pre_image_retention"] = dict({key: None for key in argument_spec()["pre_image_retention"]["options"]}, **retention)
    params.update(changes)
    return PatchRolloutSettings.from_params(params)


def rollout(aws, now=NOW, check_mode=False, **changes):
    clock = Clock()
    run = PatchRollout(Clients(aws, aws, aws, aws, aws), settings(**changes), now, check_mode=check_mode, sleep=clock.sleep, clock=clock)
    run.run()
    return run


def by_id(run):
    return {entry["instance_id"]: entry for entry in run.result["instances"]}


def install_commands(aws):
    return [request for request in aws.sent if request["Parameters"].get("Operation") == ["Install"]]


def test_scan_reports_compliance_and_changes_nothing():
    aws = FakeAws()
    missing = aws.add_instances(2, missing=3)
    clean = aws.add_instances(1, missing=0)
    unmanaged, offline = aws.add_instances(2)
    stopped = aws.add_instances(1, state="stopped")[0]
    aws.unmanaged.add(unmanaged)
    aws.offline.add(offline)
    group = aws.add_group("web", missing + clean)

    run = rollout(aws, instance_ids=missing + clean + [unmanaged, offline, stopped])

    assert run.result["changed"] is False and run.verdict() is None
    assert [r["Parameters"]["Operation"] for r in aws.sent] == [["Scan"]]
    assert sorted(aws.sent[0]["InstanceIds"]) == sorted(missing + clean)
    assert not aws.images and not install_commands(aws)
    assert aws.groups[group] == {i: "healthy" for i in missing + clean}
    entries = by_id(run)
    assert [entries[i]["status"] for i in missing + clean] == ["non_compliant", "non_compliant", "compliant"]
    assert entries[missing[0]]["missing_before"] == 3
    skipped = {item["instance_id"]: item["reason"] for item in run.result["instances_skipped"]}
    assert set(skipped) == {unmanaged, offline, stopped}
    assert "not managed" in skipped[unmanaged] and "offline" in skipped[offline] and "stopped" in skipped[stopped]
    assert run.result["compliance"] == {"compliant": 1, "non_compliant": 2, "never_scanned": 0}
    assert run.result["totals"]["instances"] == 6 and run.result["totals"]["skipped"] == 3


def test_install_images_everything_first_then_a_canary_and_waves_with_one_baseline_snapshot():
    aws = FakeAws()
    ids = aws.add_instances(12)
    clean = aws.add_instances(1, missing=0)[0]

    run = rollout(aws, filters={"tag:Name": ["web-%d" % n for n in range(13)]}, mode="install", wave_size="4")

    assert run.verdict() is None and run.result["changed"] is True
    assert [len(wave) for wave in run.result["waves"]] == [1, 4, 4, 3]
    assert sorted(i for wave in run.result["waves"] for i in wave) == ids
    # Every pre-patch AMI exists before the first install; the clean instance gets neither.
    events = [action for action, _i in aws.events]
    assert events.index("install") > max(n for n, action in enumerate(events) if action == "image")
    assert sorted(aws.order_of("image")) == ids and clean not in aws.order_of("install")
    installs = install_commands(aws)
    assert [len(r["InstanceIds"]) for r in installs] == [1, 4, 4, 3]
    assert {r["Parameters"]["SnapshotId"][0] for r in installs} == {run.result["snapshot_id"]}
    assert all(r["Parameters"]["RebootOption"] == ["RebootIfNeeded"] for r in installs)
    assert all(aws.patches[i]["missing"] == 0 and aws.patches[i]["installed"] == 13 for i in ids)
    entries = by_id(run)
    assert {entries[i]["status"] for i in ids} == {"patched"} and entries[clean]["status"] == "compliant"
    assert [entries[i]["wave"] for i in run.result["waves"][0] + run.result["waves"][3]] == [0, 3, 3, 3]
    first = entries[ids[0]]
    assert (first["missing_before"], first["missing_after"], first["installed"], first["rebooted"]) == (3, 0, 3, True)
    assert aws.images[first["pre_patch_image"]]["instance_id"] == ids[0]
    assert run.result["totals"]["patched"] == 12 and run.result["compliance"]["compliant"] == 13


def test_a_failing_wave_stops_the_rollout_and_later_waves_are_untouched():
    aws = FakeAws()
    ids = aws.add_instances(7)
    group = aws.add_group("web", ids)
    aws.install_fails.add(ids[1])

    run = rollout(aws, instance_ids=ids, mode="install", wave_size="3", min_healthy="0")

    assert run.result["waves"] == [ids[:1], ids[1:4], ids[4:]]
    assert "wave 1: 1 of 3 instance(s) failed" in run.result["stopped_early"]
    assert ids[1] in run.verdict() and "stopped early" in run.verdict()
    assert aws.order_of("install") == ids[:4]
    entries = by_id(run)
    assert [entries[i]["status"] for i in ids] == ["patched", "failed", "patched", "patched", "not_reached", "not_reached", "not_reached"]
    assert entries[ids[1]]["failed_patches"] == 3 and "install" in entries[ids[1]]["reason"]
    # The failed instance stays out of service; the later waves were never taken out.
    assert set(aws.groups[group]) == set(ids) - {ids[1]}
    assert all(aws.patches[i]["missing"] == 3 for i in ids[4:])


def test_failures_within_max_failures_go_on_and_one_failure_never_stops_its_wave():
    aws = FakeAws()
    ids = aws.add_instances(5)
    aws.not_back.add(ids[2])

    run = rollout(aws, instance_ids=ids, mode="install", canary=0, wave_size="100%", max_failures="20%")

    assert run.result["stopped_early"] is None and run.verdict() is None
    assert any(ids[2] in warning and "max_failures" in warning for warning in run.warnings)
    entries = by_id(run)
    assert entries[ids[2]]["status"] == "failed" and "reboot_timeout" in entries[ids[2]]["reason"]
    assert [entries[i]["status"] for i in ids if i != ids[2]] == ["patched"] * 4
    # The health of the others was checked; the lost one was never sent a scan after the install.
    assert aws.order_of("install") == ids


def test_waves_keep_each_target_groups_minimum_and_instances_drain_before_install():
    aws = FakeAws()
    ids = aws.add_instances(6)
    web = aws.add_group("web", ids[:4])
    lowest = []
    deregister = aws.deregister_targets

    def watched(**request):
        deregister(**request)
        lowest.append(len(aws.groups[web]))
    aws.deregister_targets = watched

    run = rollout(aws, instance_ids=ids, mode="install", canary=0, wave_size="100%", min_healthy="3", health_command="true")

    assert run.verdict() is None
    # 4 healthy, 3 kept: one web server at a time, the others fill the first wave.
    assert run.result["waves"] == [[ids[0], ids[4], ids[5]], [ids[1]], [ids[2]], [ids[3]]]
    assert min(lowest) == 3 and aws.groups[web] == {i: "healthy" for i in ids[:4]}
    events = [(action, i) for action, i in aws.events if i == ids[0]]
    assert [action for action, _i in events] == ["image", "deregister", "install", "reboot", "health", "register"]
    assert by_id(run)[ids[0]]["health"] == "passed"


def test_a_minimum_that_can_never_be_kept_refuses_before_anything_changes():
    aws = FakeAws()
    ids = aws.add_instances(2)
    aws.add_group("web", ids)

    with pytest.raises(WavePlanError, match="min_healthy 2 of target group .*web"):
        rollout(aws, instance_ids=ids, mode="install", min_healthy="2")

    assert not aws.images and not install_commands(aws) and not aws.order_of("deregister")


def test_rollback_restores_the_root_volume_and_puts_the_healthy_instance_back():
    aws = FakeAws()
    ids = aws.add_instances(3)
    group = aws.add_group("web", ids)
    aws.install_breaks.add(ids[0])

    run = rollout(aws, instance_ids=ids, mode="install", min_healthy="1", health_command="curl -f localhost", rollback=True)

    entry = by_id(run)[ids[0]]
    assert entry["status"] == "rolled_back" and entry["rolled_back"] is True and entry["health"] == "passed"
    assert "health: " in entry["reason"] and entry["pre_patch_image"] in entry["reason"]
    assert [task["image_id"] for task in aws.tasks.values()] == [entry["pre_patch_image"]]
    # Restored as imaged: the patches missing again, the instance healthy and back in service.
    assert aws.patches[ids[0]]["missing"] == 3 and (entry["missing_after"], entry["installed"]) == (3, 0)
    assert aws.groups[group][ids[0]] == "healthy"
    # A rolled-back instance still counts against max_failures (0): the canary stopped the rollout.
    assert run.result["stopped_early"].startswith("wave 0: 1 of 1")
    assert [by_id(run)[i]["status"] for i in ids[1:]] == ["not_reached", "not_reached"]


def test_a_refused_rollback_fails_the_instance_and_warns_naming_it():
    aws = FakeAws()
    ids = aws.add_instances(2)
    aws.add_group("web", ids)
    aws.install_breaks.add(ids[0])

    def refused(**_kwargs):
        raise client_error("UnauthorizedOperation", "CreateReplaceRootVolumeTask")
    aws.create_replace_root_volume_task = refused

    # max_failures 1: the task itself succeeds, so the warning is what tells the operator.
    run = rollout(aws, instance_ids=ids, mode="install", min_healthy="1", max_failures="1", health_command="curl -f localhost", rollback=True)

    entry = by_id(run)[ids[0]]
    assert (entry["status"], entry["rolled_back"]) == ("failed", False) and not aws.tasks
    assert any(warning.startswith("%s was not rolled back: rollback: CreateReplaceRootVolumeTask: " % ids[0]) and "UnauthorizedOperation" in warning
               for warning in run.warnings), run.warnings


def test_without_rollback_a_broken_instance_stays_out_of_service_naming_its_image():
    aws = FakeAws()
    ids = aws.add_instances(2)
    group = aws.add_group("web", ids)
    aws.install_breaks.add(ids[0])

    run = rollout(aws, instance_ids=ids, mode="install", min_healthy="1", health_command="true")

    entry = by_id(run)[ids[0]]
    assert (entry["status"], entry["health"], entry["rolled_back"]) == ("failed", "failed", False)
    assert entry["pre_patch_image"] in aws.images and not aws.tasks
    assert ids[0] not in aws.groups[group]


def marks(aws, instance_id):
    return {key: value for key, value in aws.instances[instance_id]["tags"].items() if key.startswith("cloudops:out-of-service:")}


def test_instances_a_killed_run_left_out_of_service_go_back_when_a_later_run_finds_them_healthy():
    aws = FakeAws()
    ids = aws.add_instances(3)
    group = aws.add_group("web", ids)
    aws.killed_after_install = True

    with pytest.raises(KeyboardInterrupt):
        rollout(aws, instance_ids=ids, mode="install", min_healthy="1")

    assert set(aws.groups[group]) == set(ids[1:]) and list(marks(aws, ids[0]).values()) == [group + " 80"]
    aws.killed_after_install = False
    run = rollout(aws, now=NOW + datetime.timedelta(hours=1), instance_ids=ids, mode="install", min_healthy="1", health_command="true")

    assert run.verdict() is None
    assert aws.groups[group] == {i: "healthy" for i in ids} and not marks(aws, ids[0])
    entries = by_id(run)
    # Patched by the killed run: nothing to install, so it stays compliant, checked and back in service.
    assert (entries[ids[0]]["status"], entries[ids[0]]["health"], entries[ids[0]]["installed"]) == ("compliant", "passed", 0)
    assert "an earlier run left it out of targetgroup/web/" in entries[ids[0]]["reason"]
    assert [entries[i]["status"] for i in ids[1:]] == ["patched", "patched"]


def test_a_failed_instance_keeps_its_marks_until_a_run_finds_it_healthy():
    aws = FakeAws()
    ids = aws.add_instances(2)
    group = aws.add_group("web", ids)
    aws.install_breaks.add(ids[1])
    first = rollout(aws, instance_ids=ids, mode="install", canary=0, min_healthy="0", max_failures="1", health_command="true")
    assert by_id(first)[ids[1]]["status"] == "failed" and marks(aws, ids[1]) and not marks(aws, ids[0])

    aws.install_breaks.clear()
    aws.broken.clear()
    second = rollout(aws, instance_ids=ids, mode="install", canary=0, min_healthy="0", health_command="true")

    assert aws.groups[group] == {i: "healthy" for i in ids} and not marks(aws, ids[1])
    assert (by_id(second)[ids[1]]["status"], by_id(second)[ids[1]]["health"]) == ("compliant", "passed")
    assert second.result["waves"] == [[ids[1]]]


def test_stopped_instances_are_started_patched_and_stopped_again_even_when_the_run_ends_on_an_error():
    aws = FakeAws()
    running = aws.add_instances(1)
    stopped = aws.add_instances(2, state="stopped")

    run = rollout(aws, instance_ids=running + stopped, mode="install", start_stopped=True)

    assert run.verdict() is None
    assert {aws.instances[i]["state"] for i in stopped} == {"stopped"} and aws.instances[running[0]]["state"] == "running"
    assert all(by_id(run)[i]["started_and_stopped"] and by_id(run)[i]["status"] == "patched" for i in stopped)
    assert not by_id(run)[running[0]]["started_and_stopped"]

    broken = FakeAws()
    stopped = broken.add_instances(2, state="stopped")

    def refused(**_request):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeTargetGroups")
    broken.describe_target_groups = refused
    with pytest.raises(ClientError):
        rollout(broken, instance_ids=stopped, mode="install", start_stopped=True)
    assert broken.order_of("start") == stopped and {broken.instances[i]["state"] for i in stopped} == {"stopped"}


def test_a_run_again_within_min_interval_takes_no_second_pre_patch_ami():
    aws = FakeAws()
    ids = aws.add_instances(2)
    aws.install_fails.add(ids[0])

    first = rollout(aws, instance_ids=ids, mode="install")
    assert first.result["stopped_early"] and len(aws.images) == 2
    aws.install_fails.clear()
    second = rollout(aws, now=NOW + datetime.timedelta(hours=1), instance_ids=ids, mode="install")

    assert second.verdict() is None and len(aws.images) == 2
    assert [by_id(second)[i]["pre_patch_image"] for i in ids] == [by_id(first)[i]["pre_patch_image"] for i in ids]
    assert all(skip["reason"].startswith("min_interval") for skip in second.result["pre_patch_images"]["instances_skipped"])
    assert {entry["status"] for entry in second.result["instances"]} == {"patched"}


def test_check_mode_plans_waves_and_images_and_changes_nothing():
    aws = FakeAws()
    ids = aws.add_instances(4)
    stopped = aws.add_instances(1, state="stopped")
    aws.add_group("web", ids)
    for i in ids + stopped:
        aws._report(i, "Scan")

    run = rollout(aws, check_mode=True, instance_ids=ids + stopped, mode="install", start_stopped=True, wave_size="2")

    assert run.result["changed"] is True and not aws.sent and not aws.images and not aws.events
    assert run.result["waves"] == [ids[:1], ids[1:3], ids[3:] + stopped]
    assert {entry["status"] for entry in run.result["instances"]} == {"not_reached"}
    assert len(run.result["pre_patch_images"]["images_created"]) == 5
    assert aws.instances[stopped[0]]["state"] == "stopped"


def test_no_reboot_leaves_patches_pending_a_reboot_without_failing():
    aws = FakeAws()
    ids = aws.add_instances(1)

    run = rollout(aws, instance_ids=ids, mode="install", reboot_option="NoReboot", pre_image=False)

    entry = by_id(run)[ids[0]]
    assert (entry["status"], entry["rebooted"], entry["installed"], entry["pre_patch_image"]) == ("patched", False, 3, None)
    assert aws.patches[ids[0]]["pending_reboot"] == 3 and not aws.images


@pytest.mark.parametrize("changes, message", [
    ({"wave_size": "0"}, "wave_size: '0'"),
    ({"wave_size": "150%"}, "wave_size: '150%' is above 100%"),
    ({"min_healthy": "half"}, "min_healthy: 'half'"),
    ({"max_failures": "-1"}, "max_failures: '-1'"),
    ({"canary": -1}, "canary: must be 0"),
    ({"health_command": "  "}, "health_command: '  '"),
    ({"patch_group": "", "instance_ids": None}, "patch_group: must name a patch group, got ''"),
    ({"filters": {"tag:Role": "web"}}, "instance_ids, filters, patch_group: select by exactly one"),
    ({"drain_timeout": 0}, "drain_timeout: must be 1 or more seconds, got 0"),
    ({"pre_image_timeout": 0}, "pre_image_timeout: must be 1 or more seconds, got 0"),
    ({"rollback": True, "pre_image": False}, "rollback: .* pre_image is false"),
    ({"pre_image_min_interval": "soon"}, "pre_image_min_interval: invalid duration 'soon'"),
    ({"pre_image_retention": {"keep_last": 0}}, "pre_image_retention: keep_last must be at least 1"),
    ({"pre_image_policy": " "}, "pre_image_policy: must not be empty"),
])
def test_bad_input_is_refused_naming_the_option_and_the_value(changes, message):
    with pytest.raises(ValueError, match=message):
        settings(**dict({"instance_ids": ["i-0123456789abcdef0"]}, **changes))


def test_marks_read_back_the_registrations_they_were_made_of_in_order():
    registrations = [Registration("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g%d/0123456789abcdef" % n, 8000 + n)
                     for n in range(12)]
    tags = dict(marks_of(registrations), Name="web-1")

    assert registrations_from_tags(tags) == registrations
    assert registrations_from_tags({"Name": "web-1", "cloudops:out-of-service:x": "junk"}) == []
