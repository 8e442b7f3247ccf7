# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One run of instance_schedule: select, decide, start and stop, verify, record (docs/schedule.md).

The sequence, and why:
1. One paginated DescribeInstances of the instances carrying the schedule tag (tag_key), in a live state.
2. Each schedule's situation at `now` (schedules.py) and each instance's decision (schedule_decisions.py):
   left alone (skip tag, Auto Scaling group, maintenance mark, unknown schedule, in transition), unchanged,
   or to start, stop or hibernate.
3. Only when something is to change: one DescribeImages and one DescribeSnapshots of this collection's
   pending backups; an instance with one in progress is skipped. Check mode ends here with the plan.
4. StartInstances and StopInstances in batches (Hibernate=True for those to hibernate); a batch EC2 refuses
   as a whole is retried one instance at a time, so one instance in the wrong state fails alone. An
   instance EC2 will not hibernate is stopped instead, saying so.
5. One DescribeInstances a round until each instance is in its state or verify_timeout is up; one that is
   not fails, reported with the state it was in.
6. The applied tag on the instances that reached their state (and on those that needed nothing at a new
   edge), one CreateTags per distinct value.
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import summarize_instance
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import wait_for_instance_states
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_VALUE
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import POLICY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_INSTANCE_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_VOLUME_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import APPLIED_TAG
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import HIBERNATE
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import START
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import STOP
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import Situation
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import decide
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import format_instant

# What each action's instances end in, and how the report names them.
DONE = {START: "started", STOP: "stopped", HIBERNATE: "hibernated"}
TARGET = {START: "running", STOP: "stopped", HIBERNATE: "stopped"}
STATUSES = ("changed", "requested", "planned", "unchanged", "skipped", "failed")
NO_HIBERNATION = "UnsupportedHibernationConfiguration"


def summarize(instance):
    summary = summarize_instance(instance)
    summary["hibernation"] = bool((instance.get("HibernationOptions") or {}).get("Configured"))
    return summary


def pending_backups(ec2, instances):
    """{instance_id: why} for those of `instances` with an AMI or a snapshot of this collection still pending."""
    busy = {}
    managed = {"Name": "tag:" + MANAGED_BY_KEY, "Values": [MANAGED_BY_VALUE]}
    wanted = {instance["instance_id"] for instance in instances}
    for image in all_pages(ec2.describe_images, "Images", Owners=["self"], Filters=[managed, {"Name": "state", "Values": ["pending"]}]):
        tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
        if tags.get(SOURCE_INSTANCE_KEY) in wanted:
            busy.setdefault(tags[SOURCE_INSTANCE_KEY], "AMI %s (policy %s) is pending" % (image["ImageId"], tags.get(POLICY_KEY, "?")))
    volumes = {mapping["Ebs"]["VolumeId"]: instance["instance_id"] for instance in instances
               for mapping in instance["block_device_mappings"] if mapping.get("Ebs", {}).get("VolumeId")}
    for snapshot in all_pages(ec2.describe_snapshots, "Snapshots", OwnerIds=["self"],
                              Filters=[managed, {"Name": "status", "Values": ["pending"]}]):
        tags = {tag["Key"]: tag["Value"] for tag in snapshot.get("Tags", [])}
        volume_id = tags.get(SOURCE_VOLUME_KEY) or snapshot.get("VolumeId")
        if volume_id in volumes:
            busy.setdefault(volumes[volume_id], "snapshot %s of %s (policy %s) is pending"
                            % (snapshot["SnapshotId"], volume_id, tags.get(POLICY_KEY, "?")))
    return busy


class ScheduleRun:
    """One instance_schedule run; `result` holds everything returned, also when an AWS error ends the run."""

    def __init__(self, ec2, settings, check_mode=False, sleep=time.sleep, clock=time.monotonic):
        self.ec2 = ec2
        self.settings = settings
        self.check_mode = check_mode
        self.sleep = sleep
        self.clock = clock
        self.now = settings.now
        self.entries = {}
        self.decisions = {}
        self.instances = {}
        self.warnings = []
        self.result = {"changed": False, "now": format_instant(self.now), "schedules": {}, "instances": [], "started": [],
                       "stopped": [], "hibernated": [], "instances_skipped": [], "failures": [], "totals": self._totals([])}

    # -- 1 and 2: select and decide ------------------------------------------------------------------

    def _select(self):
        reservations = all_pages(self.ec2.describe_instances, "Reservations", Filters=self.settings.describe_filters())
        instances = sorted((summarize(i) for r in reservations for i in r["Instances"]), key=lambda i: i["instance_id"])
        self.instances = {instance["instance_id"]: instance for instance in instances}
        return instances

    def _decide(self, instances):
        settings = self.settings
        situations = {name: Situation.of(schedule, self.now) for name, schedule in sorted(settings.schedules.items())}
        self.result["schedules"] = {name: situation.summary() for name, situation in situations.items()}
        for instance in instances:
            name = instance["tags"].get(settings.tag_key, "")
            entry = {"instance_id": instance["instance_id"], "name": instance["name"], "schedule": name, "state_before": instance["state"],
                     "desired_state": None, "action": "none", "status": "unchanged", "reason": "", "state_after": instance["state"]}
            self.entries[instance["instance_id"]] = entry
            if name not in situations:
                self._skip(instance["instance_id"], "schedule %r is not one of this run's schedules (%s)" % (name, ", ".join(situations)))
                continue
            decision = decide(instance, situations[name], self.now)
            self.decisions[instance["instance_id"]] = decision
            entry.update(desired_state=decision.desired, reason=decision.reason)
            if decision.skip:
                self._skip(instance["instance_id"], decision.reason)
            elif decision.action:
                entry["action"] = decision.action

    def _skip(self, instance_id, reason):
        self.entries[instance_id].update(status="skipped", reason=reason, action="none")
        self.decisions.pop(instance_id, None)

    def _acting(self, action=None):
        return [i for i, decision in sorted(self.decisions.items()) if decision.action and (action is None or self.entries[i]["action"] == action)]

    # -- 3: backups in progress ----------------------------------------------------------------------

    def _leave_busy(self):
        acting = self._acting()
        if not acting:
            return
        for instance_id, why in sorted(pending_backups(self.ec2, [self.instances[i] for i in acting]).items()):
            self._skip(instance_id, "a backup is in progress: %s" % why)

    # -- 4: start, stop, hibernate ---------------------------------------------------------------------

    def _call(self, call, instance_ids, **params):
        """{instance_id: ClientError} of those of `instance_ids` EC2 refused; a batch refused as a whole is tried one by one."""
        refused = {}
        for chunk in chunks(instance_ids):
            try:
                call(aws_retry=True, InstanceIds=chunk, **params)
            except ClientError as error:
                if len(chunk) == 1:
                    refused[chunk[0]] = error
                    continue
                for instance_id in chunk:
                    try:
                        call(aws_retry=True, InstanceIds=[instance_id], **params)
                    except ClientError as single:
                        refused[instance_id] = single
        return refused

    def _fail(self, instance_id, error):
        self.entries[instance_id].update(status="failed")
        self.entries[instance_id]["reason"] += "; %s" % error
        self.result["failures"].append({"instance_id": instance_id, "error": error})

    def _act(self):
        refused = self._call(self.ec2.start_instances, self._acting(START))
        hibernating = self._acting(HIBERNATE)
        if hibernating:
            for instance_id, error in self._call(self.ec2.stop_instances, hibernating, Hibernate=True).items():
                if error_code(error) != NO_HIBERNATION:
                    refused[instance_id] = error
                    continue
                self.entries[instance_id]["action"] = STOP
                self.entries[instance_id]["reason"] += "; stopped, not hibernated: EC2 refused to hibernate it (%s)" % error_text(error)
        refused.update(self._call(self.ec2.stop_instances, self._acting(STOP)))
        for instance_id, error in sorted(refused.items()):
            call = "StartInstances" if self.entries[instance_id]["action"] == START else "StopInstances"
            self._fail(instance_id, "%s refused: %s" % (call, error_text(error)))
        requested = [i for i in self._acting() if i not in refused]
        if requested:
            self.result["changed"] = True
        return requested

    # -- 5: verify --------------------------------------------------------------------------------------

    def _verify(self, requested):
        """Those of `requested` in their state within verify_timeout (all of them when it is 0); the others fail."""
        timeout = self.settings.verify_timeout
        if not requested or timeout == 0:
            for instance_id in requested:
                self.entries[instance_id]["status"] = "requested"
            return requested
        states = wait_for_instance_states(self.ec2, requested, timeout, sleep=self.sleep, clock=self.clock)
        reached = []
        for instance_id in requested:
            entry = self.entries[instance_id]
            target = TARGET[entry["action"]]
            state = states.get(instance_id, "unknown")
            entry["state_after"] = state if state != "pending" else ("pending" if target == "running" else "stopping")
            if state == target:
                entry["status"] = "changed"
                reached.append(instance_id)
            else:
                self._fail(instance_id, "not %s within verify_timeout (%ds): %s" % (target, timeout, entry["state_after"]))
        return reached

    # -- 6: the applied tag -------------------------------------------------------------------------------

    def _record(self, instance_ids):
        by_value = {}
        for instance_id in sorted(instance_ids):
            tag = self.decisions[instance_id].tag
            if tag is not None and self.instances[instance_id]["tags"].get(APPLIED_TAG) != tag.value:
                by_value.setdefault(tag.value, []).append(instance_id)
        for value, ids in sorted(by_value.items()):
            if not self.check_mode:
                for chunk in chunks(ids):
                    self.ec2.create_tags(aws_retry=True, Resources=chunk, Tags=ansible_dict_to_boto3_tag_list({APPLIED_TAG: value}))
            self.result["changed"] = True
            for instance_id in ids:
                self.entries[instance_id]["applied"] = value

    # -- the run ------------------------------------------------------------------------------------------

    def run(self):
        try:
            self._decide(self._select())
            self._leave_busy()
            quiet = [i for i, decision in sorted(self.decisions.items()) if not decision.action]
            if self.check_mode:
                for instance_id in self._acting():
                    self.entries[instance_id].update(status="planned", state_after=TARGET[self.entries[instance_id]["action"]])
                    self.result["changed"] = True
                self._record(quiet + self._acting())
            else:
                reached = self._verify(self._act())
                self._record(quiet + reached)
        finally:
            self._report()
        return self.result

    @staticmethod
    def _totals(entries):
        tally = dict.fromkeys(STATUSES, 0)
        for entry in entries:
            tally[entry["status"]] += 1
        tally["instances"] = len(entries)
        return tally

    def _report(self):
        entries = [self.entries[instance_id] for instance_id in sorted(self.entries)]
        done = [e for e in entries if e["status"] in ("changed", "requested", "planned")]
        self.result.update(
            instances=entries,
            started=[e["instance_id"] for e in done if e["action"] == START],
            stopped=[e["instance_id"] for e in done if e["action"] == STOP],
            hibernated=[e["instance_id"] for e in done if e["action"] == HIBERNATE],
            instances_skipped=[{"instance_id": e["instance_id"], "reason": e["reason"]} for e in entries if e["status"] == "skipped"],
            totals=self._totals(entries),
        )

    def diff(self):
        """Before and after, the state of each instance the run starts or stops."""
        changing = [e for e in self.result["instances"] if e["action"] != "none" and e["status"] != "skipped"]
        return {"before": {e["instance_id"]: e["state_before"] for e in changing},
                "after": {e["instance_id"]: TARGET[e["action"]] for e in changing}}
