"""patch_states against fake EC2 and SSM clients: batched and paginated describes, the patch group's two tag keys,
instances SSM cannot reach listed with their reason, and details filtered by state."""

import datetime

import pytest
from botocore.exceptions import ClientError

from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import PatchComplianceSettings
from ansible_collections.cloudops.aws.plugins.module_utils.patch_states import ComplianceRead
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)


def instance_id(number):
    return "i-%017x" % number


class Ec2:
    """DescribeInstances over `instances` ({id: (state, tags)}): InstanceIds, or tag:<key> filters, one page."""

    def __init__(self, instances):
        self.instances = instances
        self.calls = []

    def describe_instances(self, aws_retry, InstanceIds=None, Filters=None, MaxResults=None):
        assert aws_retry and not (InstanceIds and MaxResults), "EC2 refuses MaxResults with InstanceIds"
        self.calls.append(InstanceIds or Filters)
        if InstanceIds:
            unknown = [i for i in InstanceIds if i not in self.instances]
            if unknown:
                raise ClientError({"Error": {"Code": "InvalidInstanceID.NotFound", "Message": "%s does not exist" % unknown[0]}}, "DescribeInstances")
            chosen = InstanceIds
        else:
            chosen = [i for i, (_state, tags) in self.instances.items()
                      if all(tags.get(f["Name"][len("tag:"):]) in f["Values"] for f in Filters)]
        return {"Reservations": [{"Instances": [
            {"InstanceId": i, "State": {"Name": self.instances[i][0]}, "Tags": [{"Key": k, "Value": v} for k, v in self.instances[i][1].items()]}
            for i in chosen]}]}


class Ssm:
    """DescribeInstanceInformation, DescribeInstancePatchStates and DescribeInstancePatches, paginated as SSM does."""

    def __init__(self, nodes, states, patches=None):
        self.nodes = nodes  # {instance_id: PingStatus}
        self.states = states  # {instance_id: InstancePatchState}
        self.patches = patches or {}  # {instance_id: [PatchComplianceData]}
        self.calls = []

    @staticmethod
    def _page(items, request, default_size):
        assert request.pop("aws_retry")
        start = int(request.get("NextToken") or 0)
        size = request.get("MaxResults", default_size)
        page = {"items": items[start:start + size]}
        if start + size < len(items):
            page["NextToken"] = str(start + size)
        return page

    def describe_instance_information(self, **request):
        ids = request["Filters"][0]["Values"]
        assert len(ids) <= 50
        page = self._page([{"InstanceId": i, "PingStatus": self.nodes[i]} for i in ids if i in self.nodes], request, 10)
        return {"InstanceInformationList": page.pop("items"), **page}

    def describe_instance_patch_states(self, **request):
        assert 10 <= request.get("MaxResults", 10) <= 100 and len(request["InstanceIds"]) <= 50
        self.calls.append(("DescribeInstancePatchStates", list(request["InstanceIds"])))
        page = self._page([self.states[i] for i in request["InstanceIds"] if i in self.states], request, 10)
        return {"InstancePatchStates": page.pop("items"), **page}

    def describe_instance_patches(self, **request):
        self.calls.append(("DescribeInstancePatches", request["InstanceId"], request.get("Filters")))
        wanted = {value for f in request.get("Filters", []) for value in f["Values"]}
        patches = [p for p in self.patches.get(request["InstanceId"], []) if not wanted or p["State"] in wanted]
        page = self._page(patches, request, 10)
        return {"Patches": page.pop("items"), **page}


def scanned(instance, missing=0, age_days=0):
    end = NOW - datetime.timedelta(days=age_days, minutes=5)
    return {"InstanceId": instance, "PatchGroup": "web", "BaselineId": "pb-0123456789abcdef0", "Operation": "Scan",
            "OperationStartTime": end, "OperationEndTime": end, "InstalledCount": 10, "InstalledOtherCount": 0,
            "MissingCount": missing, "FailedCount": 0, "NotApplicableCount": 50, "RebootOption": "RebootIfNeeded"}


def read(ec2, ssm, **given):
    params = dict(dict(instance_ids=None, filters=None, patch_group=None, max_age="7d", details=False, patch_states=None), **given)
    return ComplianceRead(ec2, ssm, PatchComplianceSettings.from_params(params), NOW)


def test_states_are_read_50_instances_a_call_in_whole_pages():
    ids = [instance_id(n) for n in range(120)]
    ec2 = Ec2({i: ("running", {"Env": "prod"}) for i in ids})
    ssm = Ssm({i: "Online" for i in ids}, {i: scanned(i) for i in ids})

    result = read(ec2, ssm, filters={"tag:Env": "prod"}).run()

    assert result["summary"] == {"selected": 120, "compliant": 120, "non_compliant": 0, "never_scanned": 0, "stale": 0, "not_ready": 0}
    assert result["changed"] is False
    batches = [ids for action, ids in ssm.calls if action == "DescribeInstancePatchStates"]
    assert [len(batch) for batch in batches] == [50, 50, 20]
    assert sorted(i for batch in batches for i in batch) == ids
    assert not [call for call in ssm.calls if call[0] == "DescribeInstancePatches"]


def test_a_patch_group_is_both_tag_keys_and_its_never_scanned_instances_are_reported():
    spaced, joined, both, other = (instance_id(n) for n in range(4))
    ec2 = Ec2({spaced: ("running", {"Patch Group": "web"}), joined: ("running", {"PatchGroup": "web"}),
               both: ("running", {"Patch Group": "web", "PatchGroup": "web"}), other: ("running", {"PatchGroup": "db"})})
    ssm = Ssm({i: "Online" for i in (spaced, joined, both, other)}, {spaced: scanned(spaced, missing=2), both: scanned(both)})

    result = read(ec2, ssm, patch_group="web").run()

    assert ec2.calls == [[{"Name": "tag:Patch Group", "Values": ["web"]}], [{"Name": "tag:PatchGroup", "Values": ["web"]}]]
    verdicts = {entry["instance_id"]: entry["compliance"] for entry in result["instances"]}
    assert verdicts == {spaced: "non_compliant", joined: "never_scanned", both: "compliant"}
    assert result["summary"]["selected"] == 3


def test_stopped_unmanaged_and_offline_instances_are_listed_apart_with_their_reason():
    ready, stopped, unmanaged, offline = (instance_id(n) for n in range(4))
    ec2 = Ec2({ready: ("running", {}), stopped: ("stopped", {}), unmanaged: ("running", {}), offline: ("running", {})})
    ssm = Ssm({ready: "Online", stopped: "ConnectionLost", offline: "ConnectionLost"},
              {ready: scanned(ready), stopped: scanned(stopped, missing=4, age_days=30)})

    result = read(ec2, ssm, instance_ids=[ready, stopped, unmanaged, offline]).run()

    assert [entry["instance_id"] for entry in result["instances"]] == [ready]
    reasons = {entry["instance_id"]: entry["reason"] for entry in result["instances_not_ready"]}
    assert reasons == {stopped: "instance is stopped",
                       unmanaged: "not managed by SSM (no such instance, or no agent registered for it)",
                       offline: "SSM agent offline (PingStatus ConnectionLost)"}
    last_known = next(entry for entry in result["instances_not_ready"] if entry["instance_id"] == stopped)
    assert (last_known["compliance"], last_known["missing"], last_known["stale"]) == ("non_compliant", 4, True)
    assert result["summary"] == {"selected": 4, "compliant": 1, "non_compliant": 0, "never_scanned": 0, "stale": 0, "not_ready": 3}


def test_terminated_instances_and_an_empty_selection_are_warned_about():
    gone = instance_id(1)
    compliance = read(Ec2({gone: ("terminated", {"Env": "prod"})}), Ssm({}, {}), filters={"tag:Env": "prod"})

    result = compliance.run()

    assert result["instances"] == [] and result["instances_not_ready"] == []
    assert compliance.warnings == ["ignoring terminated or shutting-down instances: %s" % gone, "the selection matches no instance"]


def test_an_id_ec2_does_not_know_is_refused_naming_the_option():
    with pytest.raises(SelectionError, match=r"^instance_ids: DescribeInstances refused \['i-00000000000000001'\]"):
        read(Ec2({}), Ssm({}, {}), instance_ids=[instance_id(1)]).run()


def test_details_list_the_patches_in_the_chosen_states_of_every_scanned_instance():
    first, second, never = (instance_id(n) for n in range(3))
    patches = [{"Title": "pkg-%d" % n, "KBId": "pkg-%d.x86_64" % n, "Classification": "Security", "Severity": "Important",
                "State": "Missing" if n % 2 else "Installed", "CVEIds": "CVE-2025-%04d" % n} for n in range(250)]
    ssm = Ssm({i: "Online" for i in (first, second, never)}, {first: scanned(first, missing=125), second: scanned(second)},
              {first: patches})

    result = read(Ec2({i: ("running", {}) for i in (first, second, never)}), ssm, details=True, patch_states=["missing", "failed"]).run()

    listed = {entry["instance_id"]: entry["patches"] for entry in result["instances"]}
    assert len(listed[first]) == 125 and {patch["state"] for patch in listed[first]} == {"missing"}
    assert listed[first][0] == {"title": "pkg-1", "kb_id": "pkg-1.x86_64", "classification": "Security", "severity": "Important",
                                "state": "missing", "cve_ids": ["CVE-2025-0001"]}
    assert listed[second] == [] and listed[never] == []
    calls = [call for call in ssm.calls if call[0] == "DescribeInstancePatches"]
    # Two pages of 100 for the first instance, one for the second, none for the one never scanned.
    assert sorted(call[1] for call in calls) == [first, first, second]
    assert all(call[2] == [{"Key": "State", "Values": ["Missing", "Failed"]}] for call in calls)


def test_an_error_reading_one_instances_patches_fails_the_read():
    scanned_id = instance_id(1)
    ssm = Ssm({scanned_id: "Online"}, {scanned_id: scanned(scanned_id)})

    def refused(**_request):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "DescribeInstancePatches")

    ssm.describe_instance_patches = refused

    with pytest.raises(ClientError, match="AccessDeniedException"):
        read(Ec2({scanned_id: ("running", {})}), ssm, details=True).run()
