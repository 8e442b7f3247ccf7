"""cloudops.aws.patch_rollout (run in the test process, conftest's run_task; a run to kill through ansible-playbook)
against the simulator: Patch Manager, ELBv2 target health, root volume replacement.

Every test reads AWS back with boto3 (patch states, commands, images, target health, root volume tasks,
instance states) and the simulator's call log, rather than trusting the module's report.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from aws_state import managed_images
from aws_state import mutating_calls
from aws_state import tags_of
from conftest import ansible_env
from load_balancers import Sampler
from load_balancers import target_group
from load_balancers import target_states

MISSING = [
    {"id": "openssl-libs.x86_64", "classification": "Security", "severity": "Critical", "cve_ids": ["CVE-2024-5535"]},
    {"id": "curl.x86_64", "classification": "Security", "severity": "Important"},
    {"id": "tzdata.noarch", "classification": "Bugfix", "severity": "Low"},
]
INSTALLED = [{"id": "bash.x86_64", "classification": "Security", "severity": "Medium", "state": "Installed"}]
# The health command fails where the load balancer's health checks do: the instance's sandbox file `health` says unhealthy.
HEALTH = "! grep -qx unhealthy health 2>/dev/null"
# Short reboots, health checks and root volume replacements keep each test to seconds.
FAST = {"patching": {"reboot_seconds": 0.3}, "elbv2": {"healthy_after": 0.3}, "root_volumes": {"replace_seconds": 0.4}}


@pytest.fixture
def fast(sim):
    sim.configure(**FAST)
    return sim


def seed(sim, *groups):
    """{name: instance id} of instance groups given as (name, count, extra spec)."""
    specs = [dict({"name": name, "count": count, "patches": MISSING + INSTALLED}, **extra) for name, count, extra in groups]
    return sim.seed({"region": "us-east-1", "instances": specs})["instances"]


def patch_rollout(run_task, check=False, **args):
    return run_task("cloudops.aws.patch_rollout", args, check=check)


def patch_states(ssm, instance_ids):
    return {s["InstanceId"]: s for s in ssm.describe_instance_patch_states(InstanceIds=list(instance_ids), MaxResults=50)["InstancePatchStates"]}


def commands(ssm, operation):
    """The AWS-RunPatchBaseline commands of one operation, oldest first."""
    listed = ssm.list_commands()["Commands"]
    chosen = [c for c in listed if c["DocumentName"] == "AWS-RunPatchBaseline" and c["Parameters"]["Operation"] == [operation]]
    return sorted(chosen, key=lambda c: c["RequestedDateTime"])


def instance_states(ec2, instance_ids):
    reservations = ec2.describe_instances(InstanceIds=list(instance_ids))["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def by_id(result):
    return {entry["instance_id"]: entry for entry in result["instances"]}


def test_scan_reports_compliance_and_changes_nothing(run_task, fast, ssm, ec2):
    fleet = seed(fast, ("web", 3, {"tags": {"Patch Group": "web"}}), ("clean", 1, {"tags": {"PatchGroup": "web"}, "patches": INSTALLED}),
                 ("web-stopped", 1, {"tags": {"Patch Group": "web"}, "state": "stopped"}))
    running = [fleet["web-1"], fleet["web-2"], fleet["web-3"], fleet["clean"]]
    fast.clear_log()

    first = patch_rollout(run_task, patch_group="web")
    again = patch_rollout(run_task, patch_group="web")

    for result in (first, again):
        assert not result.get("failed"), result.get("msg")
        assert result["changed"] is False
        assert result["compliance"] == {"compliant": 1, "non_compliant": 3, "never_scanned": 0}
        assert result["instances_skipped"] == [{"instance_id": fleet["web-stopped"], "reason": "instance is stopped (start_stopped starts it in install mode)"}]
    states = patch_states(ssm, running)
    assert {s["Operation"] for s in states.values()} == {"Scan"}
    assert [states[i]["MissingCount"] for i in running] == [3, 3, 3, 0]
    assert {s["SnapshotId"] for s in states.values()} == {again["snapshot_id"]}
    # Scans only: no image, no install, no instance started; the stopped one is still stopped.
    assert {call["action"] for call in mutating_calls(fast)} == {"SendCommand"}
    assert not commands(ssm, "Install") and not managed_images(ec2)
    assert instance_states(ec2, [fleet["web-stopped"]]) == {fleet["web-stopped"]: "stopped"}
    assert by_id(first)[fleet["web-1"]]["status"] == "non_compliant" and by_id(first)[fleet["clean"]]["status"] == "compliant"


@pytest.mark.pending  # the pre-patch AMIs are waited for before the canary's install
def test_twelve_instances_are_imaged_then_patched_in_a_canary_and_three_waves(run_task, fast, ssm, ec2):
    fleet = seed(fast, ("web", 12, {"tags": {"Role": "web"}}))
    ids = sorted(fleet.values())

    started = time.monotonic()
    result = patch_rollout(run_task, filters={"tag:Role": "web"}, mode="install", canary=1, wave_size="4", health_command=HEALTH)
    elapsed = time.monotonic() - started

    assert not result.get("failed"), result.get("msg")
    installs = commands(ssm, "Install")
    assert [len(c["InstanceIds"]) for c in installs] == [1, 4, 4, 3]
    assert [sorted(c["InstanceIds"]) for c in installs] == [sorted(wave) for wave in result["waves"]]
    assert {c["Parameters"]["SnapshotId"][0] for c in installs} == {result["snapshot_id"]}
    assert {c["Parameters"]["RebootOption"][0] for c in installs} == {"RebootIfNeeded"}
    # One pre-patch AMI per instance, every one available before the canary's install was sent.
    images = managed_images(ec2, policy="pre-patch")
    assert sorted(tags_of(image)["cloudops:source-instance"] for image in images) == ids
    assert {image["State"] for image in images} == {"available"}
    image_calls = [call["time"] for call in fast.calls(action="CreateImage")]
    assert max(image_calls) < installs[0]["RequestedDateTime"].timestamp()
    # After: scanned again, nothing missing, nothing pending a reboot, every instance running.
    states = patch_states(ssm, ids)
    assert {(s["Operation"], s["MissingCount"], s["InstalledCount"], s["InstalledPendingRebootCount"]) for s in states.values()} == {("Scan", 0, 4, 0)}
    assert set(instance_states(ec2, ids).values()) == {"running"}
    entries = by_id(result)
    assert {(e["status"], e["missing_before"], e["missing_after"], e["installed"], e["rebooted"], e["health"]) for e in entries.values()} == {
        ("patched", 3, 0, 3, True, "passed")}
    assert {entries[i]["pre_patch_image"] for i in ids} == {image["ImageId"] for image in images}
    assert result["totals"]["patched"] == 12 and result["compliance"]["compliant"] == 12
    assert elapsed < 60


def test_a_failing_wave_stops_the_rollout_and_later_waves_are_untouched(run_task, fast, ssm, ec2):
    ids = sorted(seed(fast, ("web", 7, {})).values())
    # Waves follow the instance ids: [ids[0]], ids[1:4], ids[4:].
    fast.fail_patches(ids[2], ["curl.x86_64"])

    result = patch_rollout(run_task, instance_ids=ids, mode="install", wave_size="3")

    assert result["failed"] is True
    assert result["waves"] == [ids[:1], ids[1:4], ids[4:]]
    assert result["stopped_early"].startswith("wave 1: 1 of 3 instance(s) failed")
    assert ids[2] in result["msg"] and "stopped early" in result["msg"]
    assert [c["InstanceIds"] for c in commands(ssm, "Install")] == [ids[:1], ids[1:4]]
    states = patch_states(ssm, ids)
    assert [states[i]["MissingCount"] for i in ids] == [0, 0, 1, 0, 3, 3, 3]
    assert states[ids[2]]["FailedCount"] == 0  # the scan after the install counts a failed patch as missing again
    # The later waves were scanned once, never imaged or installed.
    assert {states[i]["Operation"] for i in ids[4:]} == {"Scan"}
    assert sorted(tags_of(image)["cloudops:source-instance"] for image in managed_images(ec2, policy="pre-patch")) == ids
    entries = by_id(result)
    assert [entries[i]["status"] for i in ids] == ["patched", "patched", "failed", "patched"] + ["not_reached"] * 3
    assert "install: Failed (exit code 1)" in entries[ids[2]]["reason"]


def test_instances_behind_a_load_balancer_drain_before_install_come_back_healthy_and_keep_the_minimum(run_task, fast, ssm, ec2, elbv2):
    fleet = seed(fast, ("web", 4, {}), ("worker", 2, {}))
    web = sorted(fleet["web-%d" % n] for n in range(1, 5))
    workers = sorted([fleet["worker-1"], fleet["worker-2"]])
    group_arn = target_group(ec2, elbv2, web)
    sampler = Sampler(elbv2, group_arn)
    sampler.start()

    try:
        result = patch_rollout(run_task, instance_ids=web + workers, mode="install", canary=0, wave_size="100%", min_healthy="2",
                               health_command=HEALTH, pre_image=False)
    finally:
        sampler.done.set()
        sampler.join()

    assert not result.get("failed"), result.get("msg")
    # At most two of the four web servers out at once; the workers, in no group, join the first wave.
    assert [sorted(wave) for wave in result["waves"]] == [sorted(web[:2] + workers), web[2:]]
    assert min(sum(1 for state in states.values() if state == "healthy") for _t, states in sampler.samples) >= 2
    installed_at = {i: c["RequestedDateTime"].timestamp() for c in commands(ssm, "Install") for i in c["InstanceIds"]}
    for instance_id in web:
        seen = [(t, states.get(instance_id)) for t, states in sampler.samples]
        draining = [t for t, state in seen if state == "draining"]
        assert draining and max(draining) < installed_at[instance_id]
        # Out of the group (drained) when its install was sent, back and healthy afterwards.
        assert [state for t, state in seen if t < installed_at[instance_id]][-1] is None
        assert "healthy" in [state for t, state in seen if t > installed_at[instance_id]]
    assert target_states(elbv2, group_arn) == {i: "healthy" for i in web}
    assert {s["MissingCount"] for s in patch_states(ssm, web + workers).values()} == {0}


def test_a_failed_health_check_keeps_the_instance_out_of_service_and_throttled_calls_are_retried(run_task, fast, ssm, ec2, elbv2):
    fast.configure(elbv2={"healthy_after": 0})
    fine, broken = sorted(seed(fast, ("web", 2, {})).values())
    group_arn = target_group(ec2, elbv2, [fine, broken], deregistration_delay=0)
    fast.set_instance_health([broken], healthy=False)
    throttled = {"SendCommand": "ThrottlingException", "DescribeInstancePatchStates": "ThrottlingException",
                 "DescribeTargetHealth": "Throttling", "CreateTags": "RequestLimitExceeded"}
    for action, code in throttled.items():
        fast.add_fault(action=action, code=code, status=400, count=1)

    result = patch_rollout(run_task, instance_ids=[fine, broken], mode="install", canary=0, wave_size="1", min_healthy="0",
                           max_failures="1", health_command=HEALTH, pre_image=False)

    assert not result.get("failed"), result.get("msg")
    assert {fault["action"]: fault["fired"] for fault in fast.faults()} == dict.fromkeys(throttled, 1)
    assert result["waves"] == [[fine], [broken]]
    assert target_states(elbv2, group_arn) == {fine: "healthy"}
    entry = by_id(result)[broken]
    assert (entry["status"], entry["health"]) == ("failed", "failed")
    assert patch_states(ssm, [broken])[broken]["MissingCount"] == 0
    assert any(broken in warning for warning in result.get("warnings", []))


def test_rollback_replaces_the_root_volume_from_the_pre_patch_ami(run_task, fast, ssm, ec2):
    ids = sorted(seed(fast, ("web", 2, {})).values())
    broken, fine = ids
    fast.fail_patches(broken)

    result = patch_rollout(run_task, instance_ids=ids, mode="install", canary=0, wave_size="100%", max_failures="50%",
                           health_command=HEALTH, rollback=True)

    assert not result.get("failed"), result.get("msg")
    image_id = managed_images(ec2, policy="pre-patch", instance_id=broken)[0]["ImageId"]
    tasks = ec2.describe_replace_root_volume_tasks()["ReplaceRootVolumeTasks"]
    assert [(t["InstanceId"], t["ImageId"], t["TaskState"]) for t in tasks] == [(broken, image_id, "succeeded")]
    # The root volume from the image holds the inventory as it was: three patches missing, none failed.
    states = patch_states(ssm, ids)
    assert (states[broken]["MissingCount"], states[broken]["FailedCount"], states[fine]["MissingCount"]) == (3, 0, 0)
    assert instance_states(ec2, ids) == {broken: "running", fine: "running"}
    entries = by_id(result)
    assert (entries[broken]["status"], entries[broken]["rolled_back"], entries[broken]["pre_patch_image"]) == ("rolled_back", True, image_id)
    assert entries[fine]["status"] == "patched" and not entries[fine]["rolled_back"]


def test_stopped_instances_are_patched_and_end_stopped_also_when_they_fail(run_task, fast, ssm, ec2):
    fleet = seed(fast, ("web", 1, {}), ("idle", 2, {"state": "stopped"}))
    idle = sorted([fleet["idle-1"], fleet["idle-2"]])
    fast.fail_patches(idle[1])

    result = patch_rollout(run_task, instance_ids=[fleet["web"]] + idle, mode="install", start_stopped=True, canary=0,
                           wave_size="100%", pre_image=False)

    assert result["failed"] is True and idle[1] in result["msg"]
    assert instance_states(ec2, [fleet["web"]] + idle) == {fleet["web"]: "running", idle[0]: "stopped", idle[1]: "stopped"}
    assert [call["resource_ids"] for call in fast.calls(action="StartInstances")] == [idle]
    states = patch_states(ssm, idle)
    assert (states[idle[0]]["MissingCount"], states[idle[1]]["MissingCount"]) == (0, 3)
    entries = by_id(result)
    assert [entries[i]["started_and_stopped"] for i in [fleet["web"]] + idle] == [False, True, True]


def start_play(sim, args):
    """ansible-playbook running one patch_rollout task, for a test to kill."""
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "patch", "cloudops.aws.patch_rollout": args}]}]
    handle = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    with handle:
        yaml.safe_dump(play, handle)
    process = subprocess.Popen([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", handle.name],
                               env=ansible_env(sim), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, handle.name


def kill_with_descendants(pid):
    """SIGKILL a process and everything it started: Ansible runs the module in a session of its own, out of the
    playbook's process group, so killing the group would leave the module running."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue  # gone meanwhile
    doomed, frontier = [], [pid]
    while frontier:
        doomed += frontier
        frontier = [child for child, parent in parents.items() if parent in frontier]
    for doomed_pid in doomed:
        try:
            os.kill(doomed_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_run_again_after_a_kill_takes_no_second_pre_patch_ami_and_puts_back_what_the_kill_left_out(run_task, fast, ssm, ec2, elbv2):
    fast.configure(elbv2={"healthy_after": 0})
    ids = sorted(seed(fast, ("web", 3, {})).values())
    group_arn = target_group(ec2, elbv2, ids, deregistration_delay=0)
    args = {"instance_ids": ids, "mode": "install", "canary": 1, "wave_size": "100%", "min_healthy": "1", "health_command": HEALTH}

    process, playbook = start_play(fast, args)
    try:
        deadline = time.monotonic() + 60
        while not commands(ssm, "Install"):
            assert time.monotonic() < deadline and process.poll() is None, "the canary's install was never sent"
            time.sleep(0.1)
        kill_with_descendants(process.pid)
        process.wait()
    finally:
        os.unlink(playbook)
    first_images = {tags_of(image)["cloudops:source-instance"]: image["ImageId"] for image in managed_images(ec2, policy="pre-patch")}
    assert sorted(first_images) == ids
    # The kill left the canary out of service, tagged with where it belongs.
    assert sorted(target_states(elbv2, group_arn)) == ids[1:]
    assert [value for key, value in tags_of(ec2.describe_instances(InstanceIds=ids[:1])["Reservations"][0]["Instances"][0]).items()
            if key.startswith("cloudops:out-of-service:")] == [group_arn + " 80"]
    # Its install goes on in SSM; the next run starts once it is done.
    deadline = time.monotonic() + 30
    while patch_states(ssm, ids[:1])[ids[0]]["Operation"] != "Install":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    result = patch_rollout(run_task, **args)

    assert not result.get("failed"), result.get("msg")
    images = managed_images(ec2, policy="pre-patch")
    assert {tags_of(image)["cloudops:source-instance"]: image["ImageId"] for image in images} == first_images
    assert {e["instance_id"]: e["pre_patch_image"] for e in result["instances"] if e["pre_patch_image"]} == {
        i: first_images[i] for i in ids[1:]}
    assert [s["MissingCount"] for s in patch_states(ssm, ids).values()] == [0, 0, 0]
    assert target_states(elbv2, group_arn) == {i: "healthy" for i in ids}
    assert not [key for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]
                for key in tags_of(i) if key.startswith("cloudops:")]
    assert (by_id(result)[ids[0]]["status"], by_id(result)[ids[0]]["health"]) == ("compliant", "passed")


def scanned_by_ssm(ssm, instance_ids):
    """A Scan sent with boto3, as a maintenance window would, waited for."""
    command_id = ssm.send_command(InstanceIds=instance_ids, DocumentName="AWS-RunPatchBaseline",
                                  Parameters={"Operation": ["Scan"]})["Command"]["CommandId"]
    deadline = time.monotonic() + 30
    while len(patch_states(ssm, instance_ids)) < len(instance_ids):
        assert time.monotonic() < deadline, ssm.list_command_invocations(CommandId=command_id)
        time.sleep(0.1)


def test_check_mode_plans_and_changes_nothing(run_task, fast, ssm, ec2):
    ids = sorted(seed(fast, ("web", 4, {})).values())
    scanned_by_ssm(ssm, ids)
    fast.clear_log()

    result = patch_rollout(run_task, check=True, instance_ids=ids, mode="install", wave_size="2")

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert result["waves"] == [ids[:1], ids[1:3], ids[3:]]
    assert [e["instance_id"] for e in result["pre_patch_images"]["images_created"]] == ids
    assert not mutating_calls(fast) and not managed_images(ec2)


def test_bad_input_is_refused_before_any_call(run_task, sim):
    """One case through Ansible; the unit tests go through every option's checks."""
    sim.clear_log()

    result = patch_rollout(run_task, instance_ids=["i-0123456789abcdef0"], mode="install", wave_size="0")

    assert result["failed"] is True and "wave_size: '0'" in result["msg"]
    assert sim.calls() == []
