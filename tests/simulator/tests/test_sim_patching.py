"""The simulator's Patch Manager: AWS-RunPatchBaseline over per-instance patch inventories, and the patch-state reads."""

import time

import pytest

from simulator.client import SimulatorError
from simulator.tests.test_sim_ssm import error_code, settle

DOCUMENT = "AWS-RunPatchBaseline"
SNAPSHOT = "1a2b3c4d-0000-4000-8000-00000000abcd"
PATCHES = [
    {"id": "kernel-6.1.102", "title": "kernel security update", "classification": "Security", "severity": "Critical",
     "cve_ids": ["CVE-2024-1086", "CVE-2024-26581"]},
    {"id": "openssl-3.0.8", "classification": "Security", "severity": "Important", "cve_ids": ["CVE-2023-5678"]},
    {"id": "vim-9.0.2153", "classification": "Bugfix", "severity": "Low"},
    {"id": "bash-5.2.15", "classification": "Bugfix", "severity": "Medium", "state": "Installed"},
    {"id": "python3-pip-21", "state": "InstalledOther"},
    {"id": "ruby-3.2", "classification": "Security", "severity": "Medium", "state": "NotApplicable"},
]
MISSING = ["kernel-6.1.102", "openssl-3.0.8", "vim-9.0.2153"]


@pytest.fixture
def ssm(aws):
    return aws("ssm")


@pytest.fixture
def fleet(sim):
    """Two web instances in patch group `web` with PATCHES, a db instance, a stopped one; {name: id}.
    Reboots are short so the tests stay fast."""
    sim.configure(patching={"reboot_seconds": 0.5})
    return sim.seed({"instances": [
        {"name": "web", "count": 2, "tags": {"Patch Group": "web"}, "patches": PATCHES},
        {"name": "db", "tags": {"PatchGroup": "db"}, "patches": PATCHES[:1]},
        {"name": "stopped", "state": "stopped", "patches": PATCHES},
    ]})["instances"]


def patch_baseline(ssm, instance_ids, operation, **parameters):
    """Send AWS-RunPatchBaseline; returns the command id."""
    values = dict({"Operation": [operation]}, **{name: [value] for name, value in parameters.items()})
    return ssm.send_command(DocumentName=DOCUMENT, InstanceIds=instance_ids, Parameters=values)["Command"]["CommandId"]


def run(ssm, instance_ids, operation, **parameters):
    """Run AWS-RunPatchBaseline to the end; returns {instance id: invocation with details}."""
    return settle(ssm, patch_baseline(ssm, instance_ids, operation, **parameters))


def state_of(ssm, instance_id):
    return ssm.describe_instance_patch_states(InstanceIds=[instance_id])["InstancePatchStates"][0]


def patch_states(ssm, instance_id):
    return {p["KBId"]: p["State"] for p in ssm.describe_instance_patches(InstanceId=instance_id, MaxResults=100)["Patches"]}


def ping_status(ssm, instance_id):
    nodes = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    return nodes["InstanceInformationList"][0]["PingStatus"]


def test_an_instance_never_scanned_has_no_patch_state(ssm, fleet):
    assert ssm.describe_instance_patch_states(InstanceIds=[fleet["web-1"]])["InstancePatchStates"] == []
    assert ssm.describe_instance_patches(InstanceId=fleet["web-1"])["Patches"] == []


def test_scan_reports_the_inventory_and_installs_nothing(ssm, fleet):
    invocation = run(ssm, [fleet["web-1"]], "Scan", SnapshotId=SNAPSHOT)[fleet["web-1"]]
    assert (invocation["Status"], invocation["CommandPlugins"][0]["ResponseCode"]) == ("Success", 0)
    assert invocation["CommandPlugins"][0]["Name"] == "PatchLinux"
    assert "Patch Summary for " in invocation["CommandPlugins"][0]["Output"]

    state = state_of(ssm, fleet["web-1"])
    assert state["Operation"] == "Scan" and state["OperationStartTime"] <= state["OperationEndTime"]
    assert (state["PatchGroup"], state["SnapshotId"], state["RebootOption"]) == ("web", SNAPSHOT, "RebootIfNeeded")
    assert state["BaselineId"].startswith("pb-")
    counts = {key: state[key] for key in ("MissingCount", "InstalledCount", "InstalledOtherCount", "NotApplicableCount",
                                          "InstalledPendingRebootCount", "FailedCount", "InstalledRejectedCount")}
    assert counts == {"MissingCount": 3, "InstalledCount": 1, "InstalledOtherCount": 1, "NotApplicableCount": 1,
                      "InstalledPendingRebootCount": 0, "FailedCount": 0, "InstalledRejectedCount": 0}
    # NotApplicable never counts as non-compliant; vim (Bugfix, Low) is neither critical nor security.
    assert (state["CriticalNonCompliantCount"], state["SecurityNonCompliantCount"], state["OtherNonCompliantCount"]) == (1, 2, 1)
    assert "LastNoRebootInstallOperationTime" not in state

    kernel = ssm.describe_instance_patches(InstanceId=fleet["web-1"], Filters=[{"Key": "KBId", "Values": ["kernel-6.1.102"]}])["Patches"][0]
    assert kernel["Title"] == "kernel security update" and kernel["State"] == "Missing"
    assert kernel["CVEIds"] == "CVE-2024-1086,CVE-2024-26581"
    assert kernel["InstalledTime"].timestamp() == 0
    assert ssm.describe_instance_patch_states(InstanceIds=[fleet["web-2"]])["InstancePatchStates"] == []
    run(ssm, [fleet["web-1"]], "Scan")
    assert state_of(ssm, fleet["web-1"])["MissingCount"] == 3


def test_the_report_shows_an_inventory_change_after_the_next_scan(ssm, fleet, sim):
    run(ssm, [fleet["web-1"]], "Scan")
    sim.seed_patches(fleet["web-1"], [{"id": "glibc-2.34", "classification": "Security", "severity": "Critical"}])
    assert state_of(ssm, fleet["web-1"])["MissingCount"] == 3
    run(ssm, [fleet["web-1"]], "Scan")
    assert state_of(ssm, fleet["web-1"])["MissingCount"] == 4


def test_install_reboots_the_instance_then_reports_the_patches_installed(ssm, fleet):
    instance_id = fleet["web-1"]
    started = time.monotonic()
    command_id = patch_baseline(ssm, [instance_id], "Install")
    seen = set()
    while time.monotonic() - started < 10:
        status = ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"][0]["Status"]
        seen.add((status, ping_status(ssm, instance_id)))
        if status == "Success":
            break
        time.sleep(0.05)
    # The agent resumes the document after the reboot: the invocation stays InProgress meanwhile.
    assert ("InProgress", "ConnectionLost") in seen
    assert ping_status(ssm, instance_id) == "Online"
    assert time.monotonic() - started >= 0.5

    state = state_of(ssm, instance_id)
    assert (state["Operation"], state["MissingCount"], state["InstalledCount"], state["InstalledPendingRebootCount"]) == ("Install", 0, 4, 0)
    assert state["CriticalNonCompliantCount"] + state["SecurityNonCompliantCount"] + state["OtherNonCompliantCount"] == 0
    installed = ssm.describe_instance_patches(InstanceId=instance_id, Filters=[{"Key": "KBId", "Values": MISSING}])["Patches"]
    assert {p["State"] for p in installed} == {"Installed"} and all(p["InstalledTime"].timestamp() > 0 for p in installed)


def test_an_agent_not_back_after_the_reboot_times_the_invocation_out(ssm, fleet, sim):
    instance_id = fleet["web-1"]
    sim.configure(ssm={"execution_timeout_cap": 1})
    command_id = patch_baseline(ssm, [instance_id], "Install")
    deadline = time.monotonic() + 5
    while ping_status(ssm, instance_id) != "ConnectionLost":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sim.ssm_mark([instance_id], offline=True)
    invocation = settle(ssm, command_id)[instance_id]
    assert (invocation["Status"], invocation["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut")
    # The instance rebooted, but it never reported: the patch state is the one before (none).
    assert ssm.describe_instance_patch_states(InstanceIds=[instance_id])["InstancePatchStates"] == []


def test_no_reboot_leaves_the_patches_pending_a_reboot(ssm, fleet):
    instance_id = fleet["web-1"]
    run(ssm, [instance_id], "Install", RebootOption="NoReboot")
    assert ping_status(ssm, instance_id) == "Online"
    state = state_of(ssm, instance_id)
    assert (state["InstalledPendingRebootCount"], state["MissingCount"], state["RebootOption"]) == (3, 0, "NoReboot")
    assert state["LastNoRebootInstallOperationTime"] >= state["OperationStartTime"]
    # A pending reboot is non-compliant.
    assert (state["CriticalNonCompliantCount"], state["SecurityNonCompliantCount"]) == (1, 2)

    # RebootIfNeeded reboots for patches pending a reboot even with nothing left to install.
    run(ssm, [instance_id], "Install")
    later = state_of(ssm, instance_id)
    assert (later["InstalledPendingRebootCount"], later["InstalledCount"]) == (0, 4)
    assert later["LastNoRebootInstallOperationTime"] == state["LastNoRebootInstallOperationTime"]


def test_an_injected_failure_fails_the_install_without_a_reboot(ssm, fleet, sim):
    first, second = fleet["web-1"], fleet["web-2"]
    sim.fail_patches(first, ["openssl-3.0.8"])
    sim.fail_patches(second)
    settled = run(ssm, [first, second], "Install")
    for instance_id in (first, second):
        plugin = settled[instance_id]["CommandPlugins"][0]
        assert (settled[instance_id]["Status"], plugin["ResponseCode"]) == ("Failed", 1)
        assert "Failed to install" in plugin["Output"]
    assert patch_states(ssm, first) == {
        "kernel-6.1.102": "InstalledPendingReboot", "openssl-3.0.8": "Failed", "vim-9.0.2153": "InstalledPendingReboot",
        "bash-5.2.15": "Installed", "python3-pip-21": "InstalledOther", "ruby-3.2": "NotApplicable"}
    assert (state_of(ssm, second)["FailedCount"], state_of(ssm, second)["MissingCount"]) == (3, 0)
    command = ssm.list_commands(CommandId=next(iter(settled.values()))["CommandId"])["Commands"][0]
    assert (command["Status"], command["ErrorCount"]) == ("Failed", 2)

    # A later scan finds the failed patches missing; once the failure is cleared they install.
    run(ssm, [second], "Scan")
    assert (state_of(ssm, second)["FailedCount"], state_of(ssm, second)["MissingCount"]) == (0, 3)
    sim.clear_patch_failures()
    assert run(ssm, [second], "Install", RebootOption="NoReboot")[second]["Status"] == "Success"
    assert state_of(ssm, second)["InstalledPendingRebootCount"] == 3


@pytest.mark.parametrize("parameters", [
    {},
    {"Operation": ["Bogus"]},
    {"Operation": ["Scan"], "Colour": ["blue"]},
    {"Operation": ["Install"], "RebootOption": ["Always"]},
    {"Operation": ["Install"], "SnapshotId": ["not-a-uuid"]},
    {"Operation": ["Install"], "InstallOverrideList": ["ftp://host/list.yaml"]},
    {"Operation": ["Scan", "Install"]},
])
def test_send_command_refuses_parameters_the_document_does_not_take(ssm, fleet, sim, parameters):
    def send():
        ssm.send_command(DocumentName=DOCUMENT, InstanceIds=[fleet["web-1"]], Parameters=parameters)

    assert error_code(send) == "InvalidParameters"
    assert not sim.ssm_commands()["commands"]


def test_install_override_list_and_baseline_override_are_accepted(ssm, fleet):
    override = "s3://patch-lists/web.yaml"
    run(ssm, [fleet["web-1"]], "Scan", InstallOverrideList=override, BaselineOverride="https://example.com/baseline.json")
    assert state_of(ssm, fleet["web-1"])["InstallOverrideList"] == override


def test_a_stopped_instance_is_not_patched(ssm, fleet, sim):
    sim.configure(ssm={"delivery_timeout_cap": 0.5})
    settled = run(ssm, [fleet["stopped"]], "Install")
    assert settled[fleet["stopped"]]["StatusDetails"] == "DeliveryTimedOut"
    assert ssm.describe_instance_patch_states(InstanceIds=[fleet["stopped"]])["InstancePatchStates"] == []


def test_patch_group_tags_and_registered_baselines(ssm, fleet):
    baseline_id = ssm.create_patch_baseline(Name="web-baseline", OperatingSystem="AMAZON_LINUX_2023")["BaselineId"]
    ssm.register_patch_baseline_for_patch_group(BaselineId=baseline_id, PatchGroup="web")
    run(ssm, [fleet["web-1"], fleet["web-2"], fleet["db"]], "Scan")
    web = ssm.describe_instance_patch_states_for_patch_group(PatchGroup="web")["InstancePatchStates"]
    assert {s["InstanceId"] for s in web} == {fleet["web-1"], fleet["web-2"]}
    assert {s["BaselineId"] for s in web} == {baseline_id}
    # `PatchGroup` is as good a tag key as `Patch Group`; an unregistered group has the default baseline.
    db = ssm.describe_instance_patch_states_for_patch_group(PatchGroup="db")["InstancePatchStates"]
    assert [s["InstanceId"] for s in db] == [fleet["db"]] and db[0]["BaselineId"] != baseline_id
    assert ssm.describe_instance_patch_states_for_patch_group(PatchGroup="nobody")["InstancePatchStates"] == []


def test_patch_states_for_a_patch_group_filter_on_counts(ssm, fleet, sim):
    sim.fail_patches(fleet["web-2"], ["vim-9.0.2153"])
    run(ssm, [fleet["web-1"], fleet["web-2"]], "Install", RebootOption="NoReboot")

    def selected(*filters):
        states = ssm.describe_instance_patch_states_for_patch_group(
            PatchGroup="web", Filters=[{"Key": key, "Type": kind, "Values": [value]} for key, kind, value in filters])
        return {s["InstanceId"] for s in states["InstancePatchStates"]}

    assert selected(("FailedCount", "GreaterThan", "0")) == {fleet["web-2"]}
    assert selected(("FailedCount", "Equal", "0")) == {fleet["web-1"]}
    assert selected(("InstalledPendingRebootCount", "NotEqual", "2"), ("MissingCount", "LessThan", "1")) == {fleet["web-1"]}
    assert error_code(lambda: selected(("Colour", "Equal", "1"))) == "InvalidFilter"
    assert error_code(lambda: selected(("FailedCount", "Above", "1"))) == "InvalidFilter"
    assert error_code(lambda: selected(("FailedCount", "Equal", "-1"))) == "InvalidFilter"


def test_describe_instance_patches_filters_and_pages(ssm, fleet, sim):
    sim.seed_patches(fleet["web-1"], [{"id": f"pkg-{n:02}", "classification": "Bugfix", "severity": "Low"} for n in range(12)])
    run(ssm, [fleet["web-1"]], "Scan")

    first = ssm.describe_instance_patches(InstanceId=fleet["web-1"])
    rest = ssm.describe_instance_patches(InstanceId=fleet["web-1"], NextToken=first["NextToken"])
    assert len(first["Patches"]) == 10 and len(rest["Patches"]) == 8 and "NextToken" not in rest
    missing = ssm.describe_instance_patches(InstanceId=fleet["web-1"], MaxResults=50, Filters=[{"Key": "State", "Values": ["Missing"]}])
    assert len(missing["Patches"]) == 15
    security = ssm.describe_instance_patches(InstanceId=fleet["web-1"], Filters=[
        {"Key": "Classification", "Values": ["Security"]}, {"Key": "Severity", "Values": ["Critical", "Important"]}])
    assert [p["KBId"] for p in security["Patches"]] == ["kernel-6.1.102", "openssl-3.0.8"]

    assert error_code(lambda: ssm.describe_instance_patches(InstanceId=fleet["web-1"], Filters=[{"Key": "Colour", "Values": ["x"]}])) == "InvalidFilter"
    assert error_code(lambda: ssm.describe_instance_patches(InstanceId=fleet["web-1"], MaxResults=101)) == "ValidationException"
    assert error_code(lambda: ssm.describe_instance_patches(InstanceId=fleet["web-1"], NextToken="bogus")) == "InvalidNextToken"
    assert error_code(lambda: ssm.describe_instance_patches(InstanceId="i-0123456789abcdef0")) == "InvalidInstanceId"


def test_describe_instance_patch_states_takes_fifty_ids_and_pages(ssm, sim):
    ids = list(sim.seed({"instances": [{"name": "n", "count": 12}]})["instances"].values())
    run(ssm, ids, "Scan")
    first = ssm.describe_instance_patch_states(InstanceIds=ids)
    rest = ssm.describe_instance_patch_states(InstanceIds=ids, NextToken=first["NextToken"])
    assert [s["InstanceId"] for s in first["InstancePatchStates"] + rest["InstancePatchStates"]] == ids
    assert len(ssm.describe_instance_patch_states(InstanceIds=ids, MaxResults=20)["InstancePatchStates"]) == 12
    assert error_code(lambda: ssm.describe_instance_patch_states(InstanceIds=ids * 5)) == "ValidationException"
    assert error_code(lambda: ssm.describe_instance_patch_states(InstanceIds=ids, MaxResults=101)) == "ValidationException"
    assert error_code(lambda: ssm.describe_instance_patch_states(InstanceIds=["web-1"])) == "ValidationException"


def test_get_deployable_patch_snapshot_for_instance(ssm, fleet):
    snapshot = ssm.get_deployable_patch_snapshot_for_instance(InstanceId=fleet["web-1"], SnapshotId=SNAPSHOT)
    assert (snapshot["InstanceId"], snapshot["SnapshotId"], snapshot["Product"]) == (fleet["web-1"], SNAPSHOT, "AmazonLinux2023")
    assert snapshot["SnapshotDownloadUrl"].startswith("https://")
    assert error_code(lambda: ssm.get_deployable_patch_snapshot_for_instance(InstanceId=fleet["web-1"], SnapshotId="x" * 36)) == "ValidationException"
    assert error_code(lambda: ssm.get_deployable_patch_snapshot_for_instance(InstanceId="i-0123456789abcdef0", SnapshotId=SNAPSHOT)) == "InvalidInstanceId"


def test_output_goes_to_s3_under_the_patch_plugin(ssm, fleet, aws):
    aws("s3").create_bucket(Bucket="patch-logs")
    command_id = ssm.send_command(DocumentName=DOCUMENT, InstanceIds=[fleet["web-1"]], Parameters={"Operation": ["Scan"]},
                                  OutputS3BucketName="patch-logs")["Command"]["CommandId"]
    settle(ssm, command_id)
    got = ssm.get_command_invocation(CommandId=command_id, InstanceId=fleet["web-1"], PluginName="PatchLinux")
    assert got["StandardOutputUrl"].endswith(f"/patch-logs/{command_id}/{fleet['web-1']}/awsrunShellScript/PatchLinux/stdout")
    assert "MissingCount" in got["StandardOutputContent"]


def test_control_endpoint_refuses_bad_patches_and_settings(sim, fleet):
    with pytest.raises(SimulatorError, match="state"):
        sim.seed_patches(fleet["web-1"], [{"id": "x", "state": "Broken"}])
    with pytest.raises(SimulatorError, match="instance_id"):
        sim.seed_patches("i-0123456789abcdef0", [{"id": "x"}])
    with pytest.raises(SimulatorError, match="unknown patching settings"):
        sim.configure(patching={"reboot_minutes": 1})
    with pytest.raises(SimulatorError, match="needs an id"):
        sim.seed({"instances": [{"name": "bad", "patches": [{"title": "no id"}]}]})


def test_reset_forgets_inventories_reports_failures_and_settings(ssm, fleet, sim):
    sim.fail_patches(fleet["web-1"])
    run(ssm, [fleet["web-1"]], "Scan")
    sim.reset()
    assert sim.config()["patching"] == {"reboot_seconds": 1.0}
    instance_id = sim.seed({"instances": [{"name": "fresh"}]})["instances"]["fresh"]
    run(ssm, [instance_id], "Install")
    state = state_of(ssm, instance_id)
    assert (state["InstalledCount"], state["MissingCount"], state["FailedCount"]) == (0, 0, 0)


def test_a_machine_image_captures_the_inventory_and_restores_it():
    from simulator import patching
    from simulator.machines import MACHINES

    patching.install()
    patching.PATCHING.put("i-00000000000000001", patching.parse_patches([{"id": "kernel-6.1"}]))
    MACHINES.record_image("ami-00000000000000001", "i-00000000000000001")
    patching.PATCHING.install("i-00000000000000001")
    assert patching.PATCHING.capture("i-00000000000000001")[0]["state"] == "InstalledPendingReboot"
    assert MACHINES.restore_image("i-00000000000000001", "ami-00000000000000001")
    assert patching.PATCHING.capture("i-00000000000000001")[0]["state"] == "Missing"
