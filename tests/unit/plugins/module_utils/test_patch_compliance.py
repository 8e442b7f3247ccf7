"""patch_compliance: options refused before any call, an instance's patch state as the module reports it, the fleet summary."""

import datetime

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import PatchComplianceSettings
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import api_state
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import compliance_report
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import snake_case
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import summarize_patch

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)
WEEK = datetime.timedelta(days=7)
IDS = ["i-0123456789abcdef0", "i-0123456789abcdef1", "i-0123456789abcdef2", "i-0123456789abcdef3"]


def params(**given):
    return dict(dict(instance_ids=None, filters=None, patch_group=None, max_age="7d", details=False, patch_states=None), **given)


def patch_state(instance_id, age=datetime.timedelta(hours=1), **counts):
    state = {"InstanceId": instance_id, "PatchGroup": "web", "BaselineId": "pb-0123456789abcdef0", "Operation": "Scan",
             "OperationStartTime": NOW - age - datetime.timedelta(minutes=2), "OperationEndTime": NOW - age,
             "RebootOption": "RebootIfNeeded", "InstalledCount": 40, "InstalledOtherCount": 2, "MissingCount": 0, "FailedCount": 0,
             "NotApplicableCount": 300, "InstalledPendingRebootCount": 0, "InstalledRejectedCount": 0,
             "CriticalNonCompliantCount": 0, "SecurityNonCompliantCount": 0, "OtherNonCompliantCount": 0}
    state.update(counts)
    return state


def instance(instance_id, name="web"):
    return {"instance_id": instance_id, "name": name, "state": "running"}


def test_settings_keep_one_selection_and_parse_max_age():
    settings = PatchComplianceSettings.from_params(params(patch_group="web prod", max_age="36h"))

    assert (settings.patch_group, settings.instance_ids, settings.filters) == ("web prod", None, None)
    assert settings.max_age == datetime.timedelta(hours=36)
    by_ids = PatchComplianceSettings.from_params(params(instance_ids=[IDS[0], IDS[0], IDS[1]], details=True, patch_states=["missing"]))
    assert by_ids.instance_ids == (IDS[0], IDS[1])
    assert by_ids.patch_states == ("missing",)


@pytest.mark.parametrize("given, message", [
    (dict(instance_ids=[IDS[0]], patch_group="web"),
     "instance_ids, filters, patch_group: select by one of instance_ids, filters or patch_group, "
     "got instance_ids=['i-0123456789abcdef0'] and patch_group='web'"),
    (dict(filters={"tag:Env": "prod"}, patch_group="web"),
     "instance_ids, filters, patch_group: select by one of instance_ids, filters or patch_group, "
     "got filters={'tag:Env': 'prod'} and patch_group='web'"),
    (dict(instance_ids=["i-0123456789abcdef0", "web-1"]), "instance_ids: not an instance id: 'web-1'"),
    (dict(instance_ids=[]), "instance_ids: the list is empty"),
    (dict(patch_group=""), "patch_group: must name a patch group, got ''"),
    (dict(patch_group="  "), "patch_group: must name a patch group, got '  '"),
    (dict(patch_group="web*"), "patch_group: 'web*' is not a patch group name (letters, digits, spaces and _ . : / = + - @)"),
    (dict(max_age="7 days"), "max_age: invalid duration '7 days': use a number and a unit (s, m, h, d, w), e.g. '90m', '7d' or '1d12h'"),
    (dict(max_age="0d"), "max_age: must be longer than 0s, got '0d'"),
    (dict(patch_states=["missing"]), "patch_states: ['missing'] chooses the patches that details lists, and details is false"),
    (dict(details=True, patch_states=[]), "patch_states: the list is empty"),
])
def test_bad_options_are_refused_naming_the_option_and_the_value(given, message):
    with pytest.raises(ValueError) as refused:
        PatchComplianceSettings.from_params(params(**given))

    assert str(refused.value) == message


def test_a_patch_group_longer_than_ssm_takes_is_refused():
    with pytest.raises(ValueError, match=r"^patch_group: at most 256 characters, got 257: 'gggg"):
        PatchComplianceSettings.from_params(params(patch_group="g" * 257))


@pytest.mark.parametrize("state, name", [("InstalledPendingReboot", "installed_pending_reboot"), ("INSTALLED_OTHER", "installed_other"),
                                         ("Missing", "missing"), ("NOT_APPLICABLE", "not_applicable")])
def test_patch_states_read_in_either_of_the_apis_spellings(state, name):
    assert snake_case(state) == name


def test_the_state_filter_takes_the_documented_spelling():
    assert [api_state(state) for state in ("missing", "installed_pending_reboot", "not_applicable")] == \
        ["Missing", "InstalledPendingReboot", "NotApplicable"]


def test_a_patch_in_snake_case_with_its_cve_ids_as_a_list():
    patch = {"Title": "openssl-libs", "KBId": "openssl-libs.x86_64", "Classification": "Security", "Severity": "Important",
             "State": "Missing", "InstalledTime": datetime.datetime(1970, 1, 1), "CVEIds": "CVE-2024-5535, CVE-2024-6119"}

    assert summarize_patch(patch) == {"title": "openssl-libs", "kb_id": "openssl-libs.x86_64", "classification": "Security",
                                      "severity": "Important", "state": "missing", "cve_ids": ["CVE-2024-5535", "CVE-2024-6119"]}
    assert summarize_patch(dict(patch, CVEIds=""))["cve_ids"] == []


def test_verdicts_per_instance_and_for_the_fleet():
    states = {
        IDS[0]: patch_state(IDS[0]),
        IDS[1]: patch_state(IDS[1], MissingCount=3, SecurityNonCompliantCount=2, CriticalNonCompliantCount=1),
        IDS[2]: patch_state(IDS[2], age=datetime.timedelta(days=8)),
    }

    report = compliance_report([instance(i) for i in IDS], states, {}, NOW, WEEK)

    by_id = {entry["instance_id"]: entry for entry in report["instances"]}
    assert by_id[IDS[0]] == {
        "instance_id": IDS[0], "name": "web", "compliance": "compliant", "stale": False,
        "installed": 40, "installed_other": 2, "installed_pending_reboot": 0, "installed_rejected": 0, "missing": 0, "failed": 0,
        "not_applicable": 300, "critical_non_compliant": 0, "security_non_compliant": 0, "other_non_compliant": 0,
        "patch_group": "web", "baseline_id": "pb-0123456789abcdef0", "last_operation": "Scan",
        "last_operation_end": "2026-11-23T11:00:00Z", "reboot_option": "RebootIfNeeded",
    }
    assert (by_id[IDS[1]]["compliance"], by_id[IDS[1]]["missing"], by_id[IDS[1]]["critical_non_compliant"]) == ("non_compliant", 3, 1)
    assert (by_id[IDS[2]]["compliance"], by_id[IDS[2]]["stale"]) == ("compliant", True)
    assert by_id[IDS[3]]["compliance"] == "never_scanned"
    assert by_id[IDS[3]]["missing"] is None and by_id[IDS[3]]["last_operation"] is None and by_id[IDS[3]]["stale"] is False
    assert report["summary"] == {"selected": 4, "compliant": 2, "non_compliant": 1, "never_scanned": 1, "stale": 1, "not_ready": 0}


@pytest.mark.parametrize("count", ["FailedCount", "InstalledPendingRebootCount", "InstalledRejectedCount", "OtherNonCompliantCount"])
def test_each_kind_of_non_compliant_patch_makes_the_instance_non_compliant(count):
    report = compliance_report([instance(IDS[0])], {IDS[0]: patch_state(IDS[0], **{count: 1})}, {}, NOW, WEEK)

    assert report["instances"][0]["compliance"] == "non_compliant"


def test_not_applicable_patches_never_make_an_instance_non_compliant():
    state = patch_state(IDS[0], NotApplicableCount=900, UnreportedNotApplicableCount=12)

    assert compliance_report([instance(IDS[0])], {IDS[0]: state}, {}, NOW, WEEK)["instances"][0]["compliance"] == "compliant"


def test_an_install_is_as_recent_as_a_scan():
    state = patch_state(IDS[0], age=datetime.timedelta(days=6, hours=23), Operation="Install", RebootOption="NoReboot")

    entry = compliance_report([instance(IDS[0])], {IDS[0]: state}, {}, NOW, WEEK)["instances"][0]

    assert (entry["last_operation"], entry["reboot_option"], entry["stale"]) == ("Install", "NoReboot", False)


def test_instances_ssm_cannot_reach_are_listed_apart_with_their_reason_and_last_state():
    states = {IDS[0]: patch_state(IDS[0], MissingCount=5), IDS[1]: patch_state(IDS[1])}
    reasons = {IDS[0]: "instance is stopped", IDS[2]: "SSM agent offline (PingStatus ConnectionLost)"}

    report = compliance_report([instance(i) for i in IDS[:3]], states, reasons, NOW, WEEK)

    assert [entry["instance_id"] for entry in report["instances"]] == [IDS[1]]
    apart = {entry["instance_id"]: entry for entry in report["instances_not_ready"]}
    assert (apart[IDS[0]]["reason"], apart[IDS[0]]["compliance"], apart[IDS[0]]["missing"]) == ("instance is stopped", "non_compliant", 5)
    assert (apart[IDS[2]]["reason"], apart[IDS[2]]["compliance"]) == ("SSM agent offline (PingStatus ConnectionLost)", "never_scanned")
    assert report["summary"] == {"selected": 3, "compliant": 1, "non_compliant": 0, "never_scanned": 0, "stale": 0, "not_ready": 2}


def test_details_add_each_instances_patches_and_an_empty_list_when_never_scanned():
    patches = {IDS[0]: [{"Title": "kernel", "KBId": "kernel.x86_64", "Classification": "Security", "Severity": "Critical",
                         "State": "FAILED", "CVEIds": "CVE-2025-0001"}]}

    report = compliance_report([instance(IDS[0]), instance(IDS[1])], {IDS[0]: patch_state(IDS[0], FailedCount=1)}, {}, NOW, WEEK, patches)

    first, never = report["instances"]
    assert first["patches"] == [{"title": "kernel", "kb_id": "kernel.x86_64", "classification": "Security", "severity": "Critical",
                                 "state": "failed", "cve_ids": ["CVE-2025-0001"]}]
    assert never["patches"] == []
    assert "patches" not in compliance_report([instance(IDS[0])], {}, {}, NOW, WEEK)["instances"][0]
