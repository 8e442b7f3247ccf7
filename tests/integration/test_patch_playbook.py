"""playbooks/patch.yml (the cloudops.aws.patch role) with the simulator inventory, as an operator or AWX runs it.

Each test reads AWS back (SSM commands and patch states, images, instance states) and the simulator's
call log; the report file and the set_stats data are checked against that state.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aws_state import managed_images
from aws_state import mutating_calls
from aws_state import tags_of
from conftest import REPO
from conftest import ansible_env
from conftest import aws_client

FLEET = yaml.safe_load((REPO / "tests" / "simulator" / "fleets" / "patching.yml").read_text())
TARGET = "simulator-us-east-1"
MISSING = [
    {"id": "openssl-libs.x86_64", "classification": "Security", "severity": "Critical", "cve_ids": ["CVE-2024-5535"]},
    {"id": "curl.x86_64", "classification": "Security", "severity": "Important"},
]
HEALTH = "test -d /"


@pytest.fixture
def fast(sim):
    sim.configure(patching={"reboot_seconds": 0.3}, elbv2={"healthy_after": 0.2}, root_volumes={"replace_seconds": 0.4})
    return sim


@pytest.fixture
def ssm(sim):
    return aws_client(sim, "ssm")


def run_patch(sim, extra_vars, timeout=300):
    """ansible-playbook cloudops.aws.patch with extra vars; (return code, JSON output, stdout + stderr)."""
    env = ansible_env(sim)
    env["ANSIBLE_SHOW_CUSTOM_STATS"] = "true"
    process = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO / "inventories" / "simulator" / "hosts.yml"),
         "cloudops.aws.patch", "-e", json.dumps(extra_vars)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        output = json.loads(process.stdout)
    except ValueError:
        output = None
    return process.returncode, output, process.stdout + process.stderr


def task_results(output):
    """{task name: result} of the target host, the role's task names without the role prefix."""
    return {task["task"]["name"].split(" : ", 1)[-1]: task["hosts"][TARGET]
            for play in output["plays"] for task in play["tasks"] if TARGET in task["hosts"]}


def failure_messages(output):
    return " | ".join(str(result.get("msg", "")) for result in task_results(output).values() if result.get("failed"))


def patch_commands(ssm, operation):
    listed = ssm.list_commands()["Commands"]
    return sorted((c for c in listed if c["DocumentName"] == "AWS-RunPatchBaseline" and c["Parameters"]["Operation"] == [operation]),
                  key=lambda c: c["RequestedDateTime"])


def patch_states(ssm, instance_ids):
    return {s["InstanceId"]: s for s in ssm.describe_instance_patch_states(InstanceIds=sorted(instance_ids), MaxResults=50)["InstancePatchStates"]}


def instance_state(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def test_scan_changes_nothing_and_reports(fast, ssm, ec2, tmp_path):
    ids = fast.seed(FLEET)["instances"]
    group = [ids["web-1"], ids["web-2"], ids["web-3"], ids["web-current"]]
    report_path = tmp_path / "patch-report.json"
    fast.clear_log()

    rc, output, text = run_patch(fast, {"patch_group": "web", "patch_report_path": str(report_path)})

    assert rc == 0, text
    # Scans only: the one mutating call is SendCommand, of AWS-RunPatchBaseline Scan; no AMI, nothing started.
    assert {call["action"] for call in mutating_calls(fast)} == {"SendCommand"}
    assert patch_commands(ssm, "Install") == [] and len(patch_commands(ssm, "Scan")) == 1
    assert managed_images(ec2) == []
    states = patch_states(ssm, ids.values())
    assert set(states) == set(group)  # neither the stopped instance nor the one outside the group was scanned
    assert {s["Operation"] for s in states.values()} == {"Scan"}
    assert [states[i]["MissingCount"] for i in group] == [3, 3, 3, 0]
    assert instance_state(ec2, ids["web-spare"]) == "stopped"

    stats = output["global_custom_stats"]
    assert stats["patch_totals"] == {TARGET: {"instances": 5, "compliant": 1, "non_compliant": 3, "patched": 0, "failed": 0,
                                              "rolled_back": 0, "skipped": 1, "not_reached": 0}}
    assert stats["patch_compliance"][TARGET] == {"selected": 5, "compliant": 1, "non_compliant": 3, "never_scanned": 0,
                                                 "stale": 0, "not_ready": 1}
    assert stats["patch_failed_instances"] == [] and stats["patch_stopped_early"] == [] and stats["patch_failed_targets"] == []
    assert output["stats"][TARGET]["changed"] == 1  # the report file, nothing in AWS

    report = json.loads(report_path.read_text())
    assert report["mode"] == "scan" and report["failed"] is False and report["target"] == TARGET
    assert {e["instance_id"]: e["status"] for e in report["instances"]} == {
        ids["web-1"]: "non_compliant", ids["web-2"]: "non_compliant", ids["web-3"]: "non_compliant",
        ids["web-current"]: "compliant", ids["web-spare"]: "skipped"}
    # The compliance part agrees with what SSM says now.
    assert {e["instance_id"]: e["missing"] for e in report["compliance"]["instances"]} == {i: s["MissingCount"] for i, s in states.items()}
    assert [e["instance_id"] for e in report["compliance"]["instances_not_ready"]] == [ids["web-spare"]]
    summary = task_results(output)["Summarize the run"]["msg"]
    assert summary.startswith("patch scan on %s: 5 instance(s), 1 compliant, 3 non-compliant" % TARGET) and summary.endswith("completed")


def test_install_patches_in_a_canary_and_waves(fast, ssm, ec2, tmp_path):
    ids = sorted(fast.seed({"instances": [{"name": "web", "count": 5, "tags": {"Role": "web"}, "patches": MISSING}]})["instances"].values())
    report_path = tmp_path / "patch-report.json"

    rc, output, text = run_patch(fast, {"patch_filters": {"tag:Role": "web"}, "patch_mode": "install", "patch_wave_size": 2,
                                        "patch_health_command": HEALTH, "patch_report_path": str(report_path)})

    assert rc == 0, text
    installs = patch_commands(ssm, "Install")
    assert [len(c["InstanceIds"]) for c in installs] == [1, 2, 2]
    assert len({c["Parameters"]["SnapshotId"][0] for c in installs}) == 1
    states = patch_states(ssm, ids)
    assert {(s["Operation"], s["MissingCount"], s["InstalledCount"], s["InstalledPendingRebootCount"]) for s in states.values()} == {("Scan", 0, 2, 0)}
    images = managed_images(ec2, policy="pre-patch")
    assert sorted(tags_of(image)["cloudops:source-instance"] for image in images) == ids

    stats = output["global_custom_stats"]
    assert stats["patch_totals"][TARGET]["patched"] == 5 and stats["patch_failed_instances"] == []
    assert stats["patch_compliance"][TARGET]["compliant"] == 5
    report = json.loads(report_path.read_text())
    assert report["snapshot_id"] == installs[0]["Parameters"]["SnapshotId"][0]
    assert {e["instance_id"]: e["pre_patch_image"] for e in report["instances"]} == {
        tags_of(image)["cloudops:source-instance"]: image["ImageId"] for image in images}
    assert [sorted(wave) for wave in report["waves"]] == [sorted(c["InstanceIds"]) for c in installs]


def test_a_failed_rollout_writes_the_report_and_stats_then_fails(fast, ssm, ec2, tmp_path):
    ids = sorted(fast.seed({"instances": [{"name": "web", "count": 3, "tags": {"Patch Group": "web"}, "patches": MISSING}]})["instances"].values())
    # The canary is the first id; its install fails, so no wave after it starts.
    fast.fail_patches(ids[0], ["curl.x86_64"])
    report_path = tmp_path / "patch-report.json"

    rc, output, text = run_patch(fast, {"patch_group": "web", "patch_mode": "install", "patch_report_path": str(report_path)})

    assert rc != 0, text
    assert [c["InstanceIds"] for c in patch_commands(ssm, "Install")] == [[ids[0]]]
    states = patch_states(ssm, ids)
    assert [states[i]["MissingCount"] for i in ids] == [1, 2, 2]
    assert {states[i]["Operation"] for i in ids[1:]} == {"Scan"}

    results = task_results(output)
    assert results["Fail when the rollout or the compliance report failed"]["failed"] is True
    assert "stopped early" in results["Fail when the rollout or the compliance report failed"]["msg"]
    stats = output["global_custom_stats"]
    assert stats["patch_failed_instances"] == [ids[0]] and stats["patch_failed_targets"] == [TARGET]
    assert len(stats["patch_stopped_early"]) == 1 and stats["patch_stopped_early"][0].startswith(TARGET + ": wave 0")
    assert stats["patch_totals"][TARGET]["not_reached"] == 2
    report = json.loads(report_path.read_text())
    assert report["failed"] is True and report["stopped_early"].startswith("wave 0")
    entries = {e["instance_id"]: e for e in report["instances"]}
    assert entries[ids[0]]["status"] == "failed" and "install" in entries[ids[0]]["reason"]
    assert entries[ids[0]]["pre_patch_image"] in {image["ImageId"] for image in managed_images(ec2, policy="pre-patch")}
    assert {entries[i]["status"] for i in ids[1:]} == {"not_reached"}


@pytest.mark.parametrize("extra_vars, named", [
    ({"patch_group": "web", "patch_mode": "instal"}, "patch_mode"),
    ({"patch_group": "web", "patch_canary": "one"}, "patch_canary"),
    ({"patch_group": "web", "patch_pre_image_retention": {"keep_lats": 2}}, "patch_pre_image_retention"),
    ({}, "patch_instance_ids, patch_filters, patch_group: set exactly one of them"),
    ({"patch_group": "web", "patch_instance_ids": ["i-0123456789abcdef0"]}, "got patch_instance_ids and patch_group"),
    # Checked by patch_rollout, which names its option; the role names its variable.
    ({"patch_group": "web", "patch_mode": "install", "patch_wave_size": "0"}, "patch_wave_size: '0'"),
    ({"patch_group": "web", "patch_mode": "install", "patch_max_failures": "150%"}, "patch_max_failures: '150%' is above 100%"),
], ids=["mode", "canary", "retention", "no-selection", "two-selections", "wave-size", "max-failures"])
def test_bad_role_input_is_refused_naming_the_variable_before_any_call(fast, extra_vars, named):
    fast.seed(FLEET)
    fast.clear_log()

    rc, output, text = run_patch(fast, extra_vars)

    assert rc != 0, text
    assert named in failure_messages(output), text
    assert fast.calls() == []
