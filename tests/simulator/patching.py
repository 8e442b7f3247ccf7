"""Patch Manager as SSM runs it, which moto 5.2.5 lacks (its patch-state actions raise NotImplementedError
and SendCommand with AWS-RunPatchBaseline succeeds at once without doing anything).

- Every instance has a patch inventory, the machine's own state: patches with an id (a KB id or a
  package name), title, classification, severity, CVE ids and a state. The fleet file's `patches:` and
  the control endpoint seed it; a machine image captures it and a root volume made from the image
  restores it (machines.MACHINES part "patches").
- AWS-RunPatchBaseline works on the inventory and then reports to SSM. DescribeInstancePatchStates,
  ...ForPatchGroup and DescribeInstancePatches answer with the report of the instance's last operation,
  as on AWS, not with the inventory: an instance never scanned has no patch state, and a change to the
  inventory shows after the next Scan or Install.
- Scan re-evaluates the inventory: a patch whose install failed is Missing again.
- Install installs the Missing and Failed patches: each becomes InstalledPendingReboot, or Failed where
  /_sim/patch-failures says so; then the invocation fails with exit code 1 and the instance is not
  rebooted. With RebootIfNeeded, when anything was installed or is pending a reboot, the instance reboots
  (machines.MACHINES: its agent is ConnectionLost for `reboot_seconds`) while the invocation stays
  InProgress, as the agent resumes the document after the reboot; the report that follows shows the
  patches Installed. NoReboot leaves them InstalledPendingReboot and stamps
  LastNoRebootInstallOperationTime.
"""

import copy
import datetime
import operator
import re
import threading
import time
import uuid

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ssm.exceptions import SSMException, ValidationException
from moto.ssm.models import ssm_backends

from simulator import ssm_instances
from simulator.machines import MACHINES
from simulator.seconds_settings import SecondsSettings

DOCUMENT = "AWS-RunPatchBaseline"
# The document's step for Linux nodes and where the agent writes its output in S3.
PLUGIN = "PatchLinux"
S3_PLUGIN_DIR = "awsrunShellScript/PatchLinux"

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
URL_PATTERN = r"^https://.+$|^s3://([^/]+)/(.*?([^/]+))$"
# The document's parameters: (default, allowed values or the pattern a value must match). None: required.
PARAMETERS = {
    "Operation": (None, ("Scan", "Install")),
    "SnapshotId": ("", UUID_PATTERN),
    "InstallOverrideList": ("", URL_PATTERN),
    "BaselineOverride": ("", URL_PATTERN),
    "RebootOption": ("RebootIfNeeded", ("RebootIfNeeded", "NoReboot")),
}

COUNT_FIELDS = {
    "Installed": "InstalledCount",
    "InstalledOther": "InstalledOtherCount",
    "InstalledPendingReboot": "InstalledPendingRebootCount",
    "InstalledRejected": "InstalledRejectedCount",
    "Missing": "MissingCount",
    "Failed": "FailedCount",
    "NotApplicable": "NotApplicableCount",
}
STATES = tuple(COUNT_FIELDS)
INSTALLED_STATES = ("Installed", "InstalledOther", "InstalledPendingReboot", "InstalledRejected")
NON_COMPLIANT_STATES = ("Missing", "Failed", "InstalledRejected", "InstalledPendingReboot")
SECURITY_CLASSIFICATIONS = ("Security", "SecurityUpdates")
PATCH_KEYS = {"id", "title", "classification", "severity", "cve_ids", "state"}
# Missing patches report this InstalledTime, as AWS does.
NEVER_INSTALLED = datetime.datetime.fromtimestamp(0, datetime.timezone.utc)

STATE_FILTER_KEYS = tuple(COUNT_FIELDS.values()) + ("UnreportedNotApplicableCount",)
COMPARISONS = {"Equal": operator.eq, "NotEqual": operator.ne, "LessThan": operator.lt, "GreaterThan": operator.gt}
PATCH_FILTER_FIELDS = {"Classification": "classification", "KBId": "id", "Severity": "severity", "State": "state"}
INSTANCE_ID_PATTERN = r"(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)"
PATCH_GROUP_TAGS = ("Patch Group", "PatchGroup")
OPERATING_SYSTEMS = {"Linux": "AMAZON_LINUX_2023", "Windows": "WINDOWS"}
PRODUCTS = {"Linux": "AmazonLinux2023", "Windows": "WindowsServer2022"}
# Page size when MaxResults is not given: the smallest AWS allows, so clients that do not page show it.
DEFAULT_PAGE_SIZE = 10
AGENT_POLL_SECONDS = 0.05


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _error(code, message):
    # An SSM exception: moto finds the error's shape by the exception's module (a bare ServiceException fails).
    return SSMException(code, message)


def parse_patches(patches):
    """Patches as the fleet file and /_sim/patches give them, checked; ValueError names what is wrong."""
    if not isinstance(patches, list):
        raise ValueError("patches must be a list")
    parsed = []
    for entry in patches:
        if not isinstance(entry, dict) or not entry.get("id"):
            raise ValueError(f"a patch needs an id: {entry!r}")
        unknown = sorted(set(entry) - PATCH_KEYS)
        if unknown:
            raise ValueError(f"patch {entry['id']}: unknown keys {unknown} (known: {sorted(PATCH_KEYS)})")
        state = entry.get("state", "Missing")
        if state not in STATES:
            raise ValueError(f"patch {entry['id']}: state {state!r} is not one of {list(STATES)}")
        cve_ids = entry.get("cve_ids") or []
        if not isinstance(cve_ids, list):
            raise ValueError(f"patch {entry['id']}: cve_ids must be a list")
        parsed.append({
            "id": str(entry["id"]),
            "title": str(entry.get("title", entry["id"])),
            "classification": str(entry.get("classification", "")),
            "severity": str(entry.get("severity", "")),
            "cve_ids": [str(cve_id) for cve_id in cve_ids],
            "state": state,
        })
    return parsed


class Patching(SecondsSettings):
    """Inventories, injected install failures, the reports SSM keeps, and the reboot setting."""

    SECTION = "patching"

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.inventories = {}  # instance id -> [patch]
            self.failures = {}  # instance id -> patch ids whose install fails, None for every patch
            self.reports = {}  # (account, region, instance id) -> the last operation's report
            self.settings = {"reboot_seconds": 1.0}

    # -- the machine's inventory ----------------------------------------------------------------

    def put(self, instance_id, patches):
        """Add parsed patches to the inventory, replacing those with the same id."""
        moment = _now()
        with self.lock:
            inventory = self.inventories.setdefault(instance_id, [])
            for patch in patches:
                entry = dict(patch, installed_time=moment if patch["state"] in INSTALLED_STATES else None)
                index = next((i for i, known in enumerate(inventory) if known["id"] == patch["id"]), None)
                if index is None:
                    inventory.append(entry)
                else:
                    inventory[index] = entry
            return copy.deepcopy(inventory)

    def capture(self, instance_id):
        with self.lock:
            return copy.deepcopy(self.inventories.get(instance_id, []))

    def restore(self, instance_id, inventory):
        with self.lock:
            self.inventories[instance_id] = copy.deepcopy(inventory)

    def fail(self, instance_id, patch_ids=None):
        """Install fails these patches of the instance (every one it installs when None) until reset."""
        with self.lock:
            self.failures[instance_id] = None if patch_ids is None else set(patch_ids)

    def clear_failures(self):
        with self.lock:
            self.failures = {}

    def _fails(self, instance_id, patch_id):
        if instance_id not in self.failures:
            return False
        patch_ids = self.failures[instance_id]
        return patch_ids is None or patch_id in patch_ids

    def scan(self, instance_id):
        with self.lock:
            for patch in self.inventories.get(instance_id, []):
                if patch["state"] == "Failed":
                    patch["state"] = "Missing"

    def install(self, instance_id):
        """Install what the instance lacks: (ids installed, pending a reboot; ids failed)."""
        moment = _now()
        installed, failed = [], []
        with self.lock:
            for patch in self.inventories.get(instance_id, []):
                if patch["state"] not in ("Missing", "Failed"):
                    continue
                if self._fails(instance_id, patch["id"]):
                    patch["state"] = "Failed"
                    failed.append(patch["id"])
                else:
                    patch.update(state="InstalledPendingReboot", installed_time=moment)
                    installed.append(patch["id"])
        return installed, failed

    def pending_reboot(self, instance_id):
        with self.lock:
            return any(p["state"] == "InstalledPendingReboot" for p in self.inventories.get(instance_id, []))

    def rebooted(self, instance_id):
        """The reboot finishes the installs that waited for it."""
        with self.lock:
            for patch in self.inventories.get(instance_id, []):
                if patch["state"] == "InstalledPendingReboot":
                    patch["state"] = "Installed"

    # -- what SSM was told ------------------------------------------------------------------------

    def report(self, account_id, region, fields):
        """Record an operation's report (AWS-named fields) with the inventory as it is now."""
        key = (account_id, region, fields["InstanceId"])
        with self.lock:
            previous = self.reports.get(key, {})
            report = dict(fields, patches=copy.deepcopy(self.inventories.get(fields["InstanceId"], [])))
            report.setdefault("LastNoRebootInstallOperationTime", previous.get("LastNoRebootInstallOperationTime"))
            self.reports[key] = report
            return report

    def reports_of(self, account_id, region, instance_ids=None, patch_group=None):
        with self.lock:
            if instance_ids is not None:
                found = [self.reports.get((account_id, region, i)) for i in instance_ids]
            else:
                found = [r for (account, place, _i), r in sorted(self.reports.items()) if (account, place) == (account_id, region)]
            return [r for r in found if r is not None and patch_group in (None, r["PatchGroup"])]


PATCHING = Patching()


def install():
    MACHINES.register_part("patches", PATCHING.capture, PATCHING.restore)


# --- AWS-RunPatchBaseline ---------------------------------------------------------------------

def validate_parameters(parameters):
    """SendCommand's check of the document's parameters: InvalidParameters, as for any document."""
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise _error("InvalidParameters", f"Parameters {unknown} are not defined in document {DOCUMENT}")
    for name, (default, allowed) in PARAMETERS.items():
        values = parameters.get(name)
        if values is None:
            if default is None:
                raise _error("InvalidParameters", f"Parameter \"{name}\" is required")
            continue
        if len(values) != 1:
            raise _error("InvalidParameters", f"Parameter \"{name}\" takes one value")
        value = values[0]
        ok = value in allowed if isinstance(allowed, tuple) else value == "" or re.match(allowed, value)
        if not ok:
            raise _error("InvalidParameters", f"Parameter \"{name}\" \"{value}\" fails to match the allowed values or pattern")


def _parameter_values(parameters):
    return {name: (parameters.get(name) or [default])[0] for name, (default, _allowed) in PARAMETERS.items()}


def _patch_group(account_id, region, instance_id):
    tags = ssm_instances.tags_of(ec2_backends[account_id][region], instance_id)
    return next((tags[key] for key in PATCH_GROUP_TAGS if key in tags), "")


def _baseline_id(account_id, region, patch_group, platform):
    """The baseline registered for the patch group and operating system, else the default (moto's table)."""
    baseline = ssm_backends[account_id][region].get_patch_baseline_for_patch_group(patch_group, OPERATING_SYSTEMS[platform])[0]
    # moto keeps AWS's default baselines as ARNs; the patch state carries the baseline id.
    return baseline.rsplit("/", 1)[-1]


def run_patch_baseline(invocation):
    """Run the document on one online instance: (status, details, response code, stdout, stderr)."""
    command = invocation.command
    account_id, region, instance_id = command.account_id, command.region, invocation.instance_id
    node = ssm_instances.node_of(account_id, region, instance_id)
    values = _parameter_values(command.parameters)
    patch_group = _patch_group(account_id, region, instance_id)
    fields = {
        "InstanceId": instance_id,
        "PatchGroup": patch_group,
        "BaselineId": _baseline_id(account_id, region, patch_group, node["PlatformType"]),
        # The document makes a snapshot id of its own when none is given.
        "SnapshotId": values["SnapshotId"] or str(uuid.uuid4()),
        "InstallOverrideList": values["InstallOverrideList"],
        "Operation": values["Operation"],
        "RebootOption": values["RebootOption"],
        "OperationStartTime": _now(),
    }
    lines, errors = [], []
    if values["Operation"] == "Scan":
        PATCHING.scan(instance_id)
    else:
        installed, failed = PATCHING.install(instance_id)
        lines += ["Installed %s" % patch_id for patch_id in installed]
        if failed:
            errors.append("Failed to install %d patch(es): %s" % (len(failed), ", ".join(failed)))
        if values["RebootOption"] == "NoReboot":
            fields["LastNoRebootInstallOperationTime"] = _now()
        elif not failed and PATCHING.pending_reboot(instance_id):
            lines.append("Rebooting the instance to finish the installation")
            MACHINES.reboot(instance_id, PATCHING.describe()["reboot_seconds"])
            while MACHINES.rebooting(instance_id):
                time.sleep(AGENT_POLL_SECONDS)
            PATCHING.rebooted(instance_id)
            if not _agent_back(invocation):
                return "TimedOut", "ExecutionTimedOut", -1, "\n".join(lines) + "\n", "The agent did not come back after the reboot\n"
    fields["OperationEndTime"] = _now()
    report = PATCHING.report(account_id, region, fields)
    stdout = "".join(line + "\n" for line in lines) + _summary(report, node["ComputerName"])
    if errors:
        return "Failed", "Failed", 1, stdout, "".join(line + "\n" for line in errors)
    return "Success", "Success", 0, stdout, ""


def _agent_back(invocation):
    """Wait for the agent to be Online again after the reboot, within the execution cap (or a cancel)."""
    command = invocation.command
    deadline = time.monotonic() + command.execution_cap
    while time.monotonic() < deadline and invocation.ended is None:
        node = ssm_instances.node_of(command.account_id, command.region, invocation.instance_id)
        if node is not None and node["PingStatus"] == "Online":
            return True
        time.sleep(AGENT_POLL_SECONDS)
    return False


def _summary(report, computer_name):
    """The patch summary the document prints at its end."""
    state = instance_patch_state(report)
    rows = [("PatchGroup", state["PatchGroup"]), ("BaselineId", state["BaselineId"]), ("SnapshotId", state["SnapshotId"]),
            ("OperationType", state["Operation"]), ("RebootOption", state["RebootOption"]),
            ("OperationStartTime", state["OperationStartTime"].isoformat()),
            ("OperationEndTime", state["OperationEndTime"].isoformat())]
    rows += [(field, state[field]) for field in list(COUNT_FIELDS.values()) + ["UnreportedNotApplicableCount"]]
    return "Patch Summary for %s\n" % computer_name + "".join("%-29s: %s\n" % row for row in rows)


# --- reads ------------------------------------------------------------------------------------

def instance_patch_state(report):
    """An InstancePatchState of a report."""
    patches = report["patches"]
    state = {key: report[key] for key in ("InstanceId", "PatchGroup", "BaselineId", "SnapshotId", "Operation",
                                          "OperationStartTime", "OperationEndTime", "RebootOption")}
    for key in ("InstallOverrideList", "LastNoRebootInstallOperationTime"):
        if report.get(key):
            state[key] = report[key]
    for patch_state, field in COUNT_FIELDS.items():
        state[field] = sum(1 for p in patches if p["state"] == patch_state)
    state["UnreportedNotApplicableCount"] = 0
    non_compliant = [p for p in patches if p["state"] in NON_COMPLIANT_STATES]
    # The simulator has no compliance levels: a patch is Critical by its severity, Security by its classification.
    critical = [p["severity"] == "Critical" for p in non_compliant]
    security = [p["classification"] in SECURITY_CLASSIFICATIONS for p in non_compliant]
    state["CriticalNonCompliantCount"] = sum(critical)
    state["SecurityNonCompliantCount"] = sum(security)
    state["OtherNonCompliantCount"] = sum(1 for is_critical, is_security in zip(critical, security)
                                          if not is_critical and not is_security)
    return state


def _page(items, max_results, next_token):
    size = DEFAULT_PAGE_SIZE if max_results is None else int(max_results)
    if not 10 <= size <= 100:
        raise ValidationException(f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
                                  "constraint: Member must have value between 10 and 100")
    if next_token and (not str(next_token).isdigit() or int(next_token) > len(items)):
        raise _error("InvalidNextToken", "The specified token isn't valid.")
    start = int(next_token or 0)
    following = start + size
    return items[start:following], (str(following) if following < len(items) else None)


def _check_instance_id(instance_id, field):
    if not re.match(INSTANCE_ID_PATTERN, instance_id or ""):
        raise ValidationException(f"1 validation error detected: Value '{instance_id}' at '{field}' failed to satisfy "
                                  f"constraint: Member must satisfy regular expression pattern: {INSTANCE_ID_PATTERN}")


def describe_instance_patch_states(account_id, region, instance_ids, max_results=None, next_token=None):
    instance_ids = instance_ids or []
    if len(instance_ids) > 50:
        raise ValidationException("1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: "
                                  "Member must have length less than or equal to 50")
    for instance_id in instance_ids:
        _check_instance_id(instance_id, "instanceIds")
    states = [instance_patch_state(r) for r in PATCHING.reports_of(account_id, region, instance_ids=instance_ids)]
    return _page(states, max_results, next_token)


def _state_filter(entry):
    key, kind, values = entry.get("Key"), entry.get("Type"), entry.get("Values") or []
    if key not in STATE_FILTER_KEYS:
        raise _error("InvalidFilter", f"The filter key {key} is not valid; valid keys: {', '.join(STATE_FILTER_KEYS)}")
    if kind not in COMPARISONS:
        raise _error("InvalidFilter", f"The filter type {kind} is not valid; valid types: {', '.join(COMPARISONS)}")
    if len(values) != 1 or not str(values[0]).isdigit():
        raise _error("InvalidFilter", f"The filter {key} takes one value, an integer >= 0")
    return lambda state: COMPARISONS[kind](state[key], int(values[0]))


def describe_instance_patch_states_for_patch_group(account_id, region, patch_group, filters=None, max_results=None, next_token=None):
    if not patch_group:
        raise ValidationException("1 validation error detected: Value at 'patchGroup' failed to satisfy constraint: "
                                  "Member must have length greater than or equal to 1")
    if len(filters or []) > 4:
        raise ValidationException("1 validation error detected: Value at 'filters' failed to satisfy constraint: "
                                  "Member must have length less than or equal to 4")
    conditions = [_state_filter(entry) for entry in filters or []]
    states = [instance_patch_state(r) for r in PATCHING.reports_of(account_id, region, patch_group=patch_group)]
    return _page([s for s in states if all(condition(s) for condition in conditions)], max_results, next_token)


def _patch_compliance_data(patch):
    data = {
        "Title": patch["title"], "KBId": patch["id"], "Classification": patch["classification"],
        "Severity": patch["severity"], "State": patch["state"],
        "InstalledTime": patch["installed_time"] or NEVER_INSTALLED,
    }
    if patch["cve_ids"]:
        data["CVEIds"] = ",".join(patch["cve_ids"])
    return data


def describe_instance_patches(account_id, region, instance_id, filters=None, max_results=None, next_token=None):
    _check_instance_id(instance_id, "instanceId")
    if len(filters or []) > 5:
        raise ValidationException("1 validation error detected: Value at 'filters' failed to satisfy constraint: "
                                  "Member must have length less than or equal to 5")
    conditions = []
    for entry in filters or []:
        if entry.get("Key") not in PATCH_FILTER_FIELDS:
            raise _error("InvalidFilter", f"The filter key {entry.get('Key')} is not valid; valid keys: {', '.join(PATCH_FILTER_FIELDS)}")
        conditions.append((PATCH_FILTER_FIELDS[entry["Key"]], entry.get("Values") or []))
    reports = PATCHING.reports_of(account_id, region, instance_ids=[instance_id])
    if not reports and ssm_instances.node_of(account_id, region, instance_id) is None:
        raise _error("InvalidInstanceId", f"Instance {instance_id} is not a managed node of account {account_id}")
    patches = reports[0]["patches"] if reports else []
    selected = [p for p in patches if all(p[field] in values for field, values in conditions)]
    return _page([_patch_compliance_data(p) for p in selected], max_results, next_token)


def get_deployable_patch_snapshot_for_instance(account_id, region, instance_id, snapshot_id):
    _check_instance_id(instance_id, "instanceId")
    if not re.match(UUID_PATTERN, snapshot_id or ""):
        raise ValidationException(f"1 validation error detected: Value '{snapshot_id}' at 'snapshotId' failed to satisfy "
                                  f"constraint: Member must satisfy regular expression pattern: {UUID_PATTERN}")
    node = ssm_instances.node_of(account_id, region, instance_id)
    if node is None:
        raise _error("InvalidInstanceId", f"Instance {instance_id} is not a managed node of account {account_id}")
    return {
        "InstanceId": instance_id,
        "SnapshotId": snapshot_id,
        # Presigned on AWS; here a name only, nothing is stored behind it.
        "SnapshotDownloadUrl": f"https://patch-baseline-snapshot-{region}.s3.{region}.amazonaws.com/{account_id}/{snapshot_id}.json",
        "Product": PRODUCTS[node["PlatformType"]],
    }


# --- the control endpoint -----------------------------------------------------------------------

def _existing_instance(body):
    instance_id = body.get("instance_id")
    if not instance_id or ssm_instances.live_instance(DEFAULT_ACCOUNT_ID, body.get("region", "us-east-1"), instance_id) is None:
        raise ValueError(f"give instance_id, an instance that exists (not terminated): {instance_id!r}")
    return instance_id


def _inventory_json(inventory):
    return [dict(p, installed_time=p["installed_time"].isoformat() if p["installed_time"] else None) for p in inventory]


def seed(body):
    """/_sim/patches: {instance_id, patches, region?} adds patches to the inventory; answers the inventory."""
    instance_id = _existing_instance(body)
    return {"patches": _inventory_json(PATCHING.put(instance_id, parse_patches(body.get("patches"))))}


def fail(body):
    """/_sim/patch-failures: {instance_id, patch_ids?, region?}: Install fails these patches (or all of them)."""
    instance_id = _existing_instance(body)
    patch_ids = body.get("patch_ids")
    if patch_ids is not None and (not isinstance(patch_ids, list) or not patch_ids):
        raise ValueError("patch_ids, when given, is a non-empty list")
    PATCHING.fail(instance_id, patch_ids)
    return {"ok": True}
