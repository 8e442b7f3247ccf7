"""cloudops.aws.patch_compliance_info (run in the test process, conftest's run_task) against the simulator's Patch Manager.

The instances are scanned and patched with AWS-RunPatchBaseline (SendCommand) as SSM runs it; every
test compares the report with what SSM itself answers (DescribeInstancePatchStates and
DescribeInstancePatches read with boto3) and with the simulator's call log.
"""

import time

import pytest

from conftest import aws_client

CVE_SSL = ["CVE-2024-5535", "CVE-2024-6119"]
INVENTORY = [
    {"id": "openssl-libs.x86_64", "title": "openssl-libs", "classification": "Security", "severity": "Critical", "cve_ids": CVE_SSL},
    {"id": "curl.x86_64", "title": "curl", "classification": "Security", "severity": "Important", "cve_ids": ["CVE-2024-7264"]},
    {"id": "tzdata.noarch", "title": "tzdata", "classification": "Bugfix", "severity": "Low"},
    {"id": "bash.x86_64", "title": "bash", "classification": "Security", "severity": "Medium", "state": "Installed"},
    {"id": "kernel-debug.x86_64", "title": "kernel-debug", "classification": "Security", "severity": "Critical", "state": "NotApplicable"},
]
UP_TO_DATE = [{"id": "bash.x86_64", "title": "bash", "classification": "Security", "severity": "Medium", "state": "Installed"},
              {"id": "kernel-debug.x86_64", "title": "kernel-debug", "classification": "Security", "severity": "Critical",
               "state": "NotApplicable"}]
FINISHED = ("Success", "Failed", "TimedOut", "Cancelled")


@pytest.fixture
def ssm(sim):
    return aws_client(sim, "ssm")


def patch_compliance(run_task, check=False, **args):
    return run_task("cloudops.aws.patch_compliance_info", args, check=check)


def actions(sim, name):
    return [call for call in sim.calls() if call["action"] == name]


def run_patch_baseline(ssm, instance_ids, operation, reboot_option="RebootIfNeeded"):
    """AWS-RunPatchBaseline on the instances (SendCommand takes 50 a call), waited for, as a maintenance window would run it."""
    for start in range(0, len(instance_ids), 50):
        chunk = list(instance_ids[start:start + 50])
        command_id = ssm.send_command(InstanceIds=chunk, DocumentName="AWS-RunPatchBaseline",
                                      Parameters={"Operation": [operation], "RebootOption": [reboot_option]})["Command"]["CommandId"]
        deadline = time.monotonic() + 60
        while True:
            invocations = ssm.get_paginator("list_command_invocations").paginate(CommandId=command_id).build_full_result()["CommandInvocations"]
            if len(invocations) == len(chunk) and all(i["Status"] in FINISHED for i in invocations):
                assert {i["Status"] for i in invocations} == {"Success"}, invocations
                break
            assert time.monotonic() < deadline, "AWS-RunPatchBaseline %s did not finish on %s" % (operation, chunk)
            time.sleep(0.2)


def states_in_ssm(ssm, instance_ids):
    return {s["InstanceId"]: s for s in ssm.describe_instance_patch_states(InstanceIds=list(instance_ids), MaxResults=50)["InstancePatchStates"]}


def by_instance(entries):
    return {entry["instance_id"]: entry for entry in entries}


def web_fleet():
    return {"region": "us-east-1", "instances": [
        {"name": "web-spaced", "count": 2, "tags": {"Patch Group": "web"}, "patches": INVENTORY},
        {"name": "web-joined", "count": 2, "tags": {"PatchGroup": "web"}, "patches": UP_TO_DATE},
        {"name": "web-new", "tags": {"PatchGroup": "web"}, "patches": INVENTORY},
        {"name": "web-stopped", "tags": {"Patch Group": "web"}, "patches": INVENTORY, "state": "stopped"},
        {"name": "web-unmanaged", "tags": {"Patch Group": "web"}, "patches": INVENTORY},
        {"name": "web-offline", "tags": {"PatchGroup": "web"}, "patches": INVENTORY},
        {"name": "db", "tags": {"PatchGroup": "db"}, "patches": INVENTORY},
    ]}


def test_a_patch_group_by_both_tag_keys_with_never_scanned_and_unreachable_instances(run_task, sim, ssm):
    fleet = sim.seed(web_fleet())["instances"]
    scanned = [fleet["web-spaced-1"], fleet["web-spaced-2"], fleet["web-joined-1"], fleet["web-joined-2"], fleet["db"]]
    run_patch_baseline(ssm, scanned, "Scan")
    sim.ssm_mark([fleet["web-unmanaged"]], unmanaged=True)
    sim.ssm_mark([fleet["web-offline"]], offline=True)
    sim.clear_log()

    result = patch_compliance(run_task, patch_group="web")

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    # Selected by the two tag keys, read in one batch; nothing sent to the instances.
    assert len(actions(sim, "DescribeInstances")) == 2
    assert len(actions(sim, "DescribeInstancePatchStates")) == 1
    assert not actions(sim, "SendCommand")
    reported = by_instance(result["instances"])
    assert sorted(reported) == sorted([fleet["web-spaced-1"], fleet["web-spaced-2"], fleet["web-joined-1"], fleet["web-joined-2"],
                                       fleet["web-new"]])
    in_ssm = states_in_ssm(ssm, scanned)
    for name in ("web-spaced-1", "web-joined-1"):
        entry, state = reported[fleet[name]], in_ssm[fleet[name]]
        assert (entry["missing"], entry["installed"], entry["not_applicable"]) == \
            (state["MissingCount"], state["InstalledCount"], state["NotApplicableCount"])
        assert (entry["critical_non_compliant"], entry["security_non_compliant"], entry["other_non_compliant"]) == \
            (state["CriticalNonCompliantCount"], state["SecurityNonCompliantCount"], state["OtherNonCompliantCount"])
        assert (entry["baseline_id"], entry["last_operation"], entry["reboot_option"], entry["patch_group"]) == \
            (state["BaselineId"], "Scan", "RebootIfNeeded", "web")
    assert reported[fleet["web-spaced-1"]]["compliance"] == "non_compliant" and in_ssm[fleet["web-spaced-1"]]["MissingCount"] == 3
    # A not applicable patch, critical as it is, leaves the instance compliant.
    assert reported[fleet["web-joined-1"]]["compliance"] == "compliant" and in_ssm[fleet["web-joined-1"]]["NotApplicableCount"] == 1
    assert reported[fleet["web-new"]]["compliance"] == "never_scanned" and fleet["web-new"] not in states_in_ssm(ssm, [fleet["web-new"]])
    apart = {entry["instance_id"]: entry["reason"] for entry in result["instances_not_ready"]}
    assert apart == {fleet["web-stopped"]: "instance is stopped",
                     fleet["web-unmanaged"]: "not managed by SSM (no such instance, or no agent registered for it)",
                     fleet["web-offline"]: "SSM agent offline (PingStatus ConnectionLost)"}
    assert result["summary"] == {"selected": 8, "compliant": 2, "non_compliant": 2, "never_scanned": 1, "stale": 0, "not_ready": 3}


def test_installing_changes_the_verdict_as_ssm_reports_it(run_task, sim, ssm):
    fleet = sim.seed({"region": "us-east-1", "instances": [{"name": "app", "count": 2, "patches": INVENTORY}]})["instances"]
    no_reboot, rebooted = fleet["app-1"], fleet["app-2"]
    run_patch_baseline(ssm, [no_reboot], "Install", reboot_option="NoReboot")
    run_patch_baseline(ssm, [rebooted], "Install")

    result = patch_compliance(run_task, instance_ids=[no_reboot, rebooted])

    reported, in_ssm = by_instance(result["instances"]), states_in_ssm(ssm, [no_reboot, rebooted])
    pending = reported[no_reboot]
    assert (pending["installed_pending_reboot"], pending["missing"]) == (in_ssm[no_reboot]["InstalledPendingRebootCount"], 0)
    assert pending["installed_pending_reboot"] == 3 and pending["compliance"] == "non_compliant"
    assert (pending["last_operation"], pending["reboot_option"]) == ("Install", "NoReboot")
    assert (reported[rebooted]["installed"], reported[rebooted]["compliance"]) == (in_ssm[rebooted]["InstalledCount"], "compliant")
    assert reported[rebooted]["installed"] == 4


def test_details_list_the_patches_ssm_reports_in_the_chosen_states(run_task, sim, ssm):
    instance_id = sim.seed({"region": "us-east-1", "instances": [{"name": "app", "patches": INVENTORY}]})["instances"]["app"]
    run_patch_baseline(ssm, [instance_id], "Scan")
    sim.clear_log()

    result = patch_compliance(run_task, instance_ids=[instance_id], details=True, patch_states=["missing", "failed"])

    assert len(actions(sim, "DescribeInstancePatches")) == 1
    patches = result["instances"][0]["patches"]
    in_ssm = [p for p in ssm.describe_instance_patches(InstanceId=instance_id, MaxResults=100)["Patches"] if p["State"] in ("Missing", "Failed")]
    assert sorted(p["kb_id"] for p in patches) == sorted(p["KBId"] for p in in_ssm) == ["curl.x86_64", "openssl-libs.x86_64", "tzdata.noarch"]
    openssl = next(p for p in patches if p["kb_id"] == "openssl-libs.x86_64")
    assert openssl == {"title": "openssl-libs", "kb_id": "openssl-libs.x86_64", "classification": "Security", "severity": "Critical",
                       "state": "missing", "cve_ids": CVE_SSL}


def test_a_state_older_than_max_age_is_stale(run_task, sim, ssm):
    instance_id = sim.seed({"region": "us-east-1", "instances": [{"name": "app", "patches": UP_TO_DATE}]})["instances"]["app"]
    run_patch_baseline(ssm, [instance_id], "Scan")
    time.sleep(2)

    fresh = patch_compliance(run_task, instance_ids=[instance_id])
    stale = patch_compliance(run_task, instance_ids=[instance_id], max_age="1s")

    assert (fresh["instances"][0]["stale"], fresh["summary"]["stale"]) == (False, 0)
    assert (stale["instances"][0]["stale"], stale["summary"]["stale"]) == (True, 1)
    assert stale["instances"][0]["compliance"] == "compliant"


def test_check_mode_reports_the_same_and_changes_nothing(run_task, sim, ssm):
    ids = sorted(sim.seed({"region": "us-east-1", "instances": [{"name": "app", "count": 2, "patches": INVENTORY}]})["instances"].values())
    run_patch_baseline(ssm, ids[:1], "Scan")
    before = states_in_ssm(ssm, ids)
    sim.clear_log()

    checked = patch_compliance(run_task, check=True, instance_ids=ids)

    assert not checked.get("failed"), checked.get("msg")
    assert checked["changed"] is False
    assert [entry["compliance"] for entry in checked["instances"]] == ["non_compliant", "never_scanned"]
    assert checked["instances"] == patch_compliance(run_task, instance_ids=ids)["instances"]
    assert states_in_ssm(ssm, ids) == before
    assert all(call["action"].startswith(("Describe", "List", "Get")) for call in sim.calls())


def test_states_are_read_50_instances_a_call_and_throttling_is_waited_out(run_task, sim, ssm):
    ids = sorted(sim.seed({"region": "us-east-1", "instances": [{"name": "app", "count": 60, "tags": {"Env": "prod"},
                                                                 "patches": UP_TO_DATE}]})["instances"].values())
    run_patch_baseline(ssm, ids, "Scan")
    sim.clear_log()
    # More throttled answers in a row than botocore retries on its own.
    sim.add_fault(action="DescribeInstancePatchStates", code="ThrottlingException", count=6)

    result = patch_compliance(run_task, filters={"tag:Env": "prod"})

    assert not result.get("failed"), result.get("msg")
    assert result["summary"] == {"selected": 60, "compliant": 60, "non_compliant": 0, "never_scanned": 0, "stale": 0, "not_ready": 0}
    calls = actions(sim, "DescribeInstancePatchStates")
    # Two batches (50 and 10 instances), the first answered after six throttled attempts.
    assert [call["error_code"] for call in calls] == ["ThrottlingException"] * 6 + [None, None]


@pytest.mark.parametrize("args, named", [
    ({"instance_ids": ["i-0123456789abcdef0"], "patch_group": "web"}, "patch_group='web'"),
    ({"filters": {"tag:Env": "prod"}, "patch_group": "web"}, "filters={'tag:Env': 'prod'}"),
    ({"instance_ids": ["web-1"]}, "instance_ids: not an instance id: 'web-1'"),
    ({"max_age": "a week"}, "max_age: invalid duration 'a week'"),
    ({"patch_group": ""}, "patch_group: must name a patch group, got ''"),
    ({"patch_states": ["missing"]}, "patch_states: ['missing']"),
])
def test_bad_input_fails_before_any_aws_call(run_task, sim, args, named):
    sim.clear_log()

    result = patch_compliance(run_task, **args)

    assert result["failed"] is True
    assert named in result["msg"]
    assert sim.calls() == []
