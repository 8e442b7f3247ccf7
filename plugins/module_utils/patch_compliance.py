# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""patch_compliance_info's options checked once, and its report built from what SSM answered (no AWS call).

An instance's patch state (DescribeInstancePatchStates) becomes snake_case counts and a verdict:
compliant, non_compliant, or never_scanned when SSM has no state for it; stale when its last
operation ended longer than max_age ago. The fleet summary counts the verdicts of the instances
SSM can reach; the others are listed apart, each with the reason.
"""

import datetime
import re
from dataclasses import dataclass
from typing import Mapping
from typing import Optional
from typing import Tuple

from ansible_collections.cloudops.aws.plugins.module_utils.durations import parse_duration
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import validate_instance_ids
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import format_created_at
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import parse_aws_time

COMPLIANT = "compliant"
NON_COMPLIANT = "non_compliant"
NEVER_SCANNED = "never_scanned"

# The patch states of DescribeInstancePatches, as the module names them (patch_states, patches[].state).
PATCH_STATES = ("installed", "installed_other", "installed_pending_reboot", "installed_rejected", "missing", "failed",
                "not_applicable", "available_security_update")
# (report key, InstancePatchState field)
COUNTS = (
    ("installed", "InstalledCount"),
    ("installed_other", "InstalledOtherCount"),
    ("installed_pending_reboot", "InstalledPendingRebootCount"),
    ("installed_rejected", "InstalledRejectedCount"),
    ("missing", "MissingCount"),
    ("failed", "FailedCount"),
    ("not_applicable", "NotApplicableCount"),
    ("critical_non_compliant", "CriticalNonCompliantCount"),
    ("security_non_compliant", "SecurityNonCompliantCount"),
    ("other_non_compliant", "OtherNonCompliantCount"),
)
# What makes an instance non-compliant, as Patch Manager reports it: pending a reboot and rejected-but-installed
# patches too. Not applicable patches never do: they are not meant for this instance.
NON_COMPLIANT_COUNTS = ("missing", "failed", "installed_pending_reboot", "installed_rejected",
                        "critical_non_compliant", "security_non_compliant", "other_non_compliant")
STATE_KEYS = tuple(key for key, _field in COUNTS) + ("patch_group", "baseline_id", "last_operation", "last_operation_end", "reboot_option")

SELECTIONS = ("instance_ids", "filters", "patch_group")
PATCH_GROUP_MAX = 256
# SSM's own pattern for a patch group; it also keeps out EC2 filter wildcards (* and ?).
PATCH_GROUP_PATTERN = re.compile(r"^[\w\s.:/=+\-@]+$")


def snake_case(state):
    """A patch state as the module names it: the API's documented "InstalledOther" and its enum's "INSTALLED_OTHER" alike."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", state).lower()


def api_state(state):
    """A patch state as DescribeInstancePatches' State filter takes it ("installed_other" -> "InstalledOther")."""
    return "".join(word.capitalize() for word in state.split("_"))


def summarize_patch(patch):
    cve_ids = patch.get("CVEIds") or ""
    return {
        "title": patch.get("Title", ""),
        "kb_id": patch.get("KBId", ""),
        "classification": patch.get("Classification", ""),
        "severity": patch.get("Severity", ""),
        "state": snake_case(patch.get("State", "")),
        "cve_ids": [cve_id.strip() for cve_id in cve_ids.split(",") if cve_id.strip()],
    }


def summarize_patch_state(state):
    summary = {key: state.get(field, 0) for key, field in COUNTS}
    summary.update(
        patch_group=state.get("PatchGroup", ""),
        baseline_id=state.get("BaselineId", ""),
        last_operation=state.get("Operation", ""),
        last_operation_end=format_created_at(parse_aws_time(state["OperationEndTime"])),
        reboot_option=state.get("RebootOption", ""),
    )
    return summary


def instance_report(instance, state, now, max_age):
    """One instance's entry: its patch state and verdict, or never_scanned with null counts when `state` is None."""
    report = {"instance_id": instance["instance_id"], "name": instance["name"]}
    if state is None:
        report.update(dict.fromkeys(STATE_KEYS), compliance=NEVER_SCANNED, stale=False)
        return report
    report.update(summarize_patch_state(state))
    report["compliance"] = NON_COMPLIANT if any(report[key] for key in NON_COMPLIANT_COUNTS) else COMPLIANT
    report["stale"] = now - parse_aws_time(state["OperationEndTime"]) > max_age
    return report


def compliance_report(instances, states, reasons, now, max_age, patches=None):
    """The module's result: `instances` SSM can reach, `instances_not_ready` (those in `reasons`) apart, and the summary.

    `states` and `patches` are by instance id; `patches` is None without details.
    """
    ready, not_ready = [], []
    for instance in instances:
        instance_id = instance["instance_id"]
        report = instance_report(instance, states.get(instance_id), now, max_age)
        if patches is not None:
            report["patches"] = [summarize_patch(patch) for patch in patches.get(instance_id, [])]
        if instance_id in reasons:
            not_ready.append(dict(report, reason=reasons[instance_id]))
        else:
            ready.append(report)
    return {"instances": ready, "instances_not_ready": not_ready, "summary": fleet_summary(ready, not_ready)}


def fleet_summary(ready, not_ready):
    """Counts of the reachable instances by verdict (stale ones also count as compliant or not), and of the others."""
    verdicts = [report["compliance"] for report in ready]
    return {
        "selected": len(ready) + len(not_ready),
        COMPLIANT: verdicts.count(COMPLIANT),
        NON_COMPLIANT: verdicts.count(NON_COMPLIANT),
        NEVER_SCANNED: verdicts.count(NEVER_SCANNED),
        "stale": sum(1 for report in ready if report["stale"]),
        "not_ready": len(not_ready),
    }


def checked_patch_group(patch_group):
    if not patch_group.strip():
        raise ValueError("patch_group: must name a patch group, got %r" % patch_group)
    if len(patch_group) > PATCH_GROUP_MAX:
        raise ValueError("patch_group: at most %d characters, got %d: %r" % (PATCH_GROUP_MAX, len(patch_group), patch_group[:40] + "..."))
    if not PATCH_GROUP_PATTERN.match(patch_group):
        raise ValueError("patch_group: %r is not a patch group name (letters, digits, spaces and _ . : / = + - @)" % patch_group)
    return patch_group


def _checked_max_age(value):
    try:
        max_age = parse_duration(value)
    except ValueError as error:
        raise ValueError("max_age: %s" % error) from error
    if not max_age:
        raise ValueError("max_age: must be longer than 0s, got %r" % value)
    return max_age


@dataclass(frozen=True)
class PatchComplianceSettings:
    """One patch_compliance_info's options, checked when built: ValueError names the option and the value.

    At most one of instance_ids, filters and patch_group is set; none selects every instance of the Region.
    """

    instance_ids: Optional[Tuple[str, ...]]
    filters: Optional[Mapping[str, object]]
    patch_group: Optional[str]
    max_age: datetime.timedelta
    details: bool
    # The patch states details lists; None lists them all.
    patch_states: Optional[Tuple[str, ...]]

    def __post_init__(self):
        given = []
        for name in SELECTIONS:
            value = getattr(self, name)
            if value is not None:
                # Shown as the task gave it: instance_ids as a list.
                given.append("%s=%r" % (name, list(value) if isinstance(value, tuple) else value))
        if len(given) > 1:
            raise ValueError("%s: select by one of instance_ids, filters or patch_group, got %s" % (", ".join(SELECTIONS), " and ".join(given)))
        if self.instance_ids == ():
            raise ValueError("instance_ids: the list is empty")
        if self.patch_states is not None:
            if not self.details:
                raise ValueError("patch_states: %s chooses the patches that details lists, and details is false" % list(self.patch_states))
            if not self.patch_states:
                raise ValueError("patch_states: the list is empty")

    @classmethod
    def from_params(cls, params):
        instance_ids, patch_group, patch_states = params["instance_ids"], params["patch_group"], params["patch_states"]
        return cls(
            instance_ids=None if instance_ids is None else tuple(validate_instance_ids(instance_ids)),
            filters=params["filters"],
            patch_group=None if patch_group is None else checked_patch_group(patch_group),
            max_age=_checked_max_age(params["max_age"]),
            details=params["details"],
            patch_states=None if patch_states is None else tuple(dict.fromkeys(patch_states)),
        )
