# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Restore drills: prove that a backup restores by restoring it on a throwaway instance.

A drill is two module calls around a verification (the restore_drill role runs ssm_run between them):

1. start: remove what earlier drills left and that has expired; for each selected source, take its
   newest finished backup (an AMI of an instance, or a snapshot or DR copy of a volume), launch a
   throwaway instance from the image (or a helper instance, with a volume made from the snapshot
   attached to it) in the drill's subnet and security groups, without a public IP, and wait, one
   describe a round for all drills, until each runs and is an online SSM managed node;
2. finish: judge each drill from the verification's invocations, record the outcome on the backup
   (cloudops:verified-at, cloudops:verify-result, which keep_verified of the rotating modules reads),
   and remove everything the drill made, and what earlier drills left and has expired.

Every resource a drill makes is tagged at birth with the drill's run id and an expiry
(docs/tags.md): `finish` removes its own run's whatever happened, and a run killed before it leaves
resources that the next run, of any drill, removes once they have expired. A backup already drilled
is not drilled again (unless `redrill`), so a drill job run again with no new backup does nothing.

The pure decisions (choose_backups, select_leftovers, verdict) take no AWS client and no clock.
"""

import datetime
import hashlib
import time

from ansible_collections.cloudops.aws.plugins.module_utils import drill_resources
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.ebs_snapshots import describe_snapshots_by_id
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import describe_images_by_id
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import describe_image
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import select_instances
from ansible_collections.cloudops.aws.plugins.module_utils.ebs_volumes import select_volumes
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import DRILL_EXPIRES_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import DRILL_OF_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import DRILL_RUN_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_VALUE
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import VERIFIED_AT_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import VERIFY_RESULT_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import format_created_at
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import parse_aws_time
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import ONLINE
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import nodes_by_id
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_delay
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_until_settled
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

# What a source's backups are and how they are told apart, per `source`.
KINDS = {
    "image": {"id_key": "image_id", "finished": "available", "source_type": "instance", "noun": "image"},
    "snapshot": {"id_key": "snapshot_id", "finished": "completed", "source_type": "volume", "noun": "snapshot"},
}
STOPPED_STATES = ("stopping", "stopped", "shutting-down", "terminated")
PASSED, FAILED, ERROR = "passed", "failed", "error"
REQUIRED_DRILL_KEYS = ("source_id", "backup_id", "status")


def format_moment(moment):
    """UTC with milliseconds and a Z: launch and verification times, precise enough for a recovery time."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- the pure decisions ---------------------------------------------------------------------------------

def _lineage(backup, source):
    return backup["instance_id"] if source == "image" else backup["source_volume"]


def choose_backups(source_ids, backups, source, redrill=False):
    """([(source id, backup)], [{source_id, reason}]): each source's newest finished managed backup to drill.

    A source with none is skipped; so is one whose newest backup a drill already judged (its verify-result
    tag), unless `redrill`: a drill job run again with no new backup does nothing.
    """
    kind = KINDS[source]
    newest = {}
    for backup in backups:
        if not backup["managed"] or backup["state"] != kind["finished"]:
            continue
        key = _lineage(backup, source)
        if key not in newest or (backup["created_at"], backup[kind["id_key"]]) > (newest[key]["created_at"], newest[key][kind["id_key"]]):
            newest[key] = backup
    chosen, skipped = [], []
    for source_id in source_ids:
        backup = newest.get(source_id)
        if backup is None:
            skipped.append({"source_id": source_id, "reason": "no %s managed by cloudops.aws is %s" % (kind["noun"], kind["finished"])})
        elif backup["tags"].get(VERIFY_RESULT_KEY) and not redrill:
            skipped.append({"source_id": source_id, "backup_id": backup[kind["id_key"]],
                            "reason": "its newest %s %s was drilled at %s: %s (redrill to drill it again)"
                            % (kind["noun"], backup[kind["id_key"]], backup["tags"].get(VERIFIED_AT_KEY, "?"), backup["tags"][VERIFY_RESULT_KEY])})
        else:
            chosen.append((source_id, backup))
    return chosen, skipped


def select_leftovers(resources, run_id, now, own):
    """[(resource, reason)] of drill resources to remove: every one of run `run_id` when `own`, and those of
    any run whose expiry has passed (or cannot be read). A drill under way in another run is left alone."""
    chosen = []
    for resource in resources:
        tags = resource["tags"]
        if tags.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE or DRILL_RUN_KEY not in tags:
            continue
        if own and tags[DRILL_RUN_KEY] == run_id:
            chosen.append((resource, "made by this drill (run %s)" % run_id))
            continue
        try:
            expires_at = parse_aws_time(tags.get(DRILL_EXPIRES_KEY, ""))
        except ValueError:
            chosen.append((resource, "left by drill run %s, with no valid expiry (%r)" % (tags[DRILL_RUN_KEY], tags.get(DRILL_EXPIRES_KEY))))
            continue
        if expires_at <= now:
            chosen.append((resource, "left by drill run %s, expired at %s" % (tags[DRILL_RUN_KEY], format_created_at(expires_at))))
    return chosen


def _last_line(text):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def verdict(drill, invocation, now):
    """{result, reason, verified_at, seconds_to_verified} of a drill from its verification invocation (or None).

    passed: the restored instance ran the verification successfully. failed: it was restored but did not come
    up (stopped, its volume failed, not online in time), or the verification failed; the backup is tagged so.
    error: the drill could not be carried out (a launch, volume or attach call failed, no verification ran);
    the backup is not judged.
    """
    if drill["status"] == "planned":
        return {"result": "planned", "reason": "check mode: not launched", "verified_at": None, "seconds_to_verified": None}
    if drill["status"] != "ready":
        if drill["status"] == ERROR or not drill.get("drill_instance_id"):
            return {"result": ERROR, "reason": drill.get("reason") or "not launched", "verified_at": None, "seconds_to_verified": None}
        return {"result": FAILED, "reason": "the restore did not come up: %s" % (drill.get("reason") or drill["status"]),
                "verified_at": now, "seconds_to_verified": None}
    if invocation is None:
        return {"result": ERROR, "reason": "no verification result for %s: the verification did not run there" % drill["drill_instance_id"],
                "verified_at": None, "seconds_to_verified": None}
    ended = parse_aws_time(invocation["end"]) if invocation.get("end") else now
    if invocation.get("status") == "Success" and invocation.get("response_code", 0) == 0:
        seconds = (ended - parse_aws_time(drill["launched_at"])).total_seconds() if drill.get("launched_at") else None
        return {"result": PASSED, "reason": "verification succeeded", "verified_at": ended,
                "seconds_to_verified": round(seconds, 3) if seconds is not None else None}
    detail = _last_line(invocation.get("stderr")) or _last_line(invocation.get("stdout"))
    status = invocation.get("status_details") or invocation.get("status")
    reason = "verification %s (exit code %s)%s" % (status, invocation.get("response_code"), ": " + detail if detail else "")
    return {"result": FAILED, "reason": reason, "verified_at": ended, "seconds_to_verified": None}


def check_drills(drills):
    """The `drills` option, as `start` returned them; ValueError naming the first entry that is not one."""
    for number, drill in enumerate(drills):
        missing = [key for key in REQUIRED_DRILL_KEYS if key not in drill]
        if missing:
            raise ValueError("drills: entry %d (%r) lacks %s; pass the drills a started run returned" % (number, drill, ", ".join(missing)))
    return drills


# -- the run ----------------------------------------------------------------------------------------------

class DrillRun:
    """One restore_drill call: start (check mode: preview_start) or finish (preview_finish)."""

    def __init__(self, ec2, ssm, settings, now, clock=time.monotonic, sleep=time.sleep, utcnow=None):
        self.ec2 = ec2
        self.ssm = ssm
        self.settings = settings
        self.now = now
        self.clock = clock
        self.sleep = sleep
        self.utcnow = utcnow or (lambda: datetime.datetime.now(datetime.timezone.utc))
        self.kind = KINDS[settings.source]
        self.warnings = []
        self.changed = False
        self.result = {"run_id": settings.run_id, "drills": [], "sources_skipped": [], "leftovers_removed": [],
                       "cleanup": {"instances_terminated": [], "volumes_deleted": [], "remaining": [], "complete": True},
                       "totals": {}, "failures": []}

    def fail(self, resource_id, message):
        self.result["failures"].append({"id": resource_id, "error": message})

    # -- sources and their backups ----------------------------------------------------------------------

    def _source_ids(self):
        settings = self.settings
        if settings.source == "image":
            if settings.instance_ids:
                return list(settings.instance_ids)
            instances, _gone = select_instances(self.ec2, filters=settings.filters)
            return [instance["instance_id"] for instance in instances]
        if settings.volume_ids:
            return list(settings.volume_ids)
        return [volume["volume_id"] for volume in select_volumes(self.ec2, filters=settings.filters)]

    def _backups(self, source_ids):
        if self.settings.source == "image":
            return drill_resources.describe_source_images(self.ec2, source_ids, self.settings.policy)
        return drill_resources.describe_source_snapshots(self.ec2, source_ids, self.settings.policy)

    def _choose(self):
        source_ids = self._source_ids()
        if not source_ids:
            self.warnings.append("no %s matches the selection; nothing to drill" % self.kind["source_type"])
            return []
        chosen, skipped = choose_backups(source_ids, self._backups(source_ids), self.settings.source, self.settings.redrill)
        self.result["sources_skipped"] = skipped
        return chosen

    def check_network(self):
        """The zone of the drill's subnet, once it, the security groups and the helper image are known to exist.

        SelectionError names the option otherwise; the module calls this first, so such a refusal changes nothing.
        """
        zone = drill_resources.subnet_zone(self.ec2, self.settings.subnet_id)
        drill_resources.check_security_groups(self.ec2, self.settings.security_group_ids)
        if self.settings.source == "snapshot" and describe_image(self.ec2, self.settings.helper_image_id) is None:
            raise SelectionError("helper_image_id: no image %s in this Region" % self.settings.helper_image_id)
        return zone

    # -- leftovers and cleanup ----------------------------------------------------------------------------

    def _leftovers(self, own):
        return select_leftovers(drill_resources.describe_drill_resources(self.ec2), self.settings.run_id, self.now, own)

    def _entry(self, resource, reason):
        return {"resource_id": resource["resource_id"], "resource_type": resource["resource_type"],
                "run_id": resource["tags"].get(DRILL_RUN_KEY), "drill_of": resource["tags"].get(DRILL_OF_KEY), "reason": reason}

    def _remove(self, doomed):
        """Terminate the instances, wait for them to go, then delete the volumes; [entries removed], [ids remaining]."""
        instances = [(r, reason) for r, reason in doomed if r["resource_type"] == "instance"]
        volumes = [(r, reason) for r, reason in doomed if r["resource_type"] == "volume"]
        removed, remaining = [], []
        if instances:
            ids = [r["resource_id"] for r, _reason in instances]
            try:
                drill_resources.terminate_instances(self.ec2, ids)
            except Exception as error:  # pylint: disable=broad-except
                # Reported; the volumes attached to them stay until the next run removes both.
                for instance_id in ids:
                    self.fail(instance_id, "TerminateInstances: %s" % error_text(error))
                remaining += ids
            else:
                self.changed = True
                removed += [self._entry(r, reason) for r, reason in instances]
                states = poll_until_settled(self._termination_states, "resource_id", ids, self.settings.wait_timeout,
                                            sleep=self.sleep, clock=self.clock)
                remaining += [i for i in ids if states.get(i, {}).get("state") == "pending"]
        if volumes:
            current = drill_resources.describe_volumes(self.ec2, [r["resource_id"] for r, _reason in volumes])
            deletable = []
            for resource, reason in volumes:
                volume = current.get(resource["resource_id"])
                if volume is None or volume["state"] in ("deleting", "deleted"):
                    continue  # deleted with its instance (DeleteOnTermination)
                if volume["state"] == "in-use":
                    remaining.append(resource["resource_id"])
                    self.warnings.append("drill volume %s is still attached to %s; a later run deletes it once it is free"
                                         % (resource["resource_id"], volume["attached_to"]))
                else:
                    deletable.append((resource, reason))
            for outcome in run_bounded(lambda item: drill_resources.delete_volume(self.ec2, item[0]["resource_id"]), deletable, self.settings.max_concurrency):
                resource, reason = outcome.item
                if outcome.ok:
                    self.changed = True
                    removed.append(self._entry(resource, reason))
                else:
                    remaining.append(resource["resource_id"])
                    self.fail(resource["resource_id"], "DeleteVolume: %s" % error_text(outcome.error))
        return removed, sorted(remaining)

    def _termination_states(self, instance_ids):
        found = drill_resources.describe_instances(self.ec2, instance_ids)
        # Gone from DescribeInstances counts as terminated: AWS lists terminated instances for an hour only.
        return [{"resource_id": i, "state": "terminated" if i not in found or found[i]["state"] == "terminated" else "pending"}
                for i in instance_ids]

    def _remove_expired(self, preview):
        doomed = self._leftovers(own=False)
        if preview:
            self.result["leftovers_removed"] = [self._entry(r, reason) for r, reason in doomed]
            return
        removed, remaining = self._remove(doomed)
        self.result["leftovers_removed"] = removed
        if remaining:
            self.warnings.append("drill leftovers not removed yet: %s" % ", ".join(remaining))

    # -- start --------------------------------------------------------------------------------------------

    def _tags(self, backup_id):
        tags = dict(self.settings.tags)
        tags.update({
            "Name": "cloudops-restore-drill-%s" % backup_id,
            MANAGED_BY_KEY: MANAGED_BY_VALUE,
            DRILL_RUN_KEY: self.settings.run_id,
            DRILL_EXPIRES_KEY: format_created_at(self.now + self.settings.expire_after),
            DRILL_OF_KEY: backup_id,
        })
        return tags

    def _drill(self, source_id, backup, status, **fields):
        drill = {
            "source_type": self.kind["source_type"],
            "source_id": source_id,
            "backup_type": self.kind["noun"],
            "backup_id": backup[self.kind["id_key"]],
            "backup_created_at": format_created_at(backup["created_at"]),
            "drill_instance_id": None,
            "drill_volume_id": None,
            "launched_at": None,
            "ready_at": None,
            "seconds_to_ready": None,
            "status": status,
            "reason": "",
        }
        drill.update(fields)
        return drill

    def _launch(self, item, zone):
        """The drill of one source, launched: its instance (and volume), or the call that failed."""
        source_id, backup = item
        backup_id = backup[self.kind["id_key"]]
        tags = self._tags(backup_id)
        # The same for a retry within this call (RunInstances and CreateVolume are then idempotent), and new for a later
        # drill of the same backup under the same run id: AWS answers a reused token with the first, long terminated, instance.
        token = hashlib.sha256(("%s/%s/%s" % (self.settings.run_id, backup_id, self.now.isoformat())).encode()).hexdigest()[:48]
        drill = self._drill(source_id, backup, "launching", launched_at=format_moment(self.utcnow()))
        image_id = backup_id if self.settings.source == "image" else self.settings.helper_image_id
        try:
            drill["drill_instance_id"] = drill_resources.launch_instance(self.ec2, image_id, self.settings.network, tags, token)
            if self.settings.source == "snapshot":
                drill["drill_volume_id"] = drill_resources.create_volume(self.ec2, backup_id, zone, tags, token + "-v")
        except Exception as error:  # pylint: disable=broad-except
            action = "CreateVolume" if drill["drill_instance_id"] else "RunInstances"
            drill.update(status=ERROR, reason="%s: %s" % (action, error_text(error)))
        return drill

    def start(self, zone):
        """The drills of the selected sources, launched in `zone` (check_network's) and waited for, once expired leftovers are removed."""
        self._remove_expired(preview=False)
        chosen = self._choose()
        drills = [outcome.value for outcome in run_bounded(lambda item: self._launch(item, zone), chosen, self.settings.max_concurrency)]
        if any(drill["drill_instance_id"] for drill in drills):
            self.changed = True
        for drill in drills:
            if drill["status"] == ERROR:
                self.fail(drill["source_id"], drill["reason"])
        self._wait_until_ready([drill for drill in drills if drill["status"] == "launching"])
        self.result["drills"] = drills
        return self._finish_totals()

    def preview_start(self):
        self._remove_expired(preview=True)
        self.result["drills"] = [self._drill(source_id, backup, "planned") for source_id, backup in self._choose()]
        self.changed = bool(self.result["drills"] or self.result["leftovers_removed"])
        return self._finish_totals()

    # -- waiting until running and SSM-managed ---------------------------------------------------------------

    def _advance(self, drill, progress, instances, volumes):
        """Move one drill on from what the round read; returns its step: launching, attaching, booting, or done."""
        step = progress[drill["source_id"]]
        instance = instances.get(drill["drill_instance_id"])
        if instance is None or instance["state"] == "pending":
            return step
        if instance["state"] in STOPPED_STATES:
            why = ": " + instance["state_reason"] if instance["state_reason"] else ""
            drill.update(status="failed", reason="the instance is %s%s" % (instance["state"], why))
            return "done"
        if drill["drill_volume_id"] is None:
            return "booting"
        volume = volumes.get(drill["drill_volume_id"])
        if volume is None or volume["state"] == "creating":
            return step
        if volume["state"] not in ("available", "in-use"):
            drill.update(status="failed", reason="the volume %s from %s is %s" % (drill["drill_volume_id"], drill["backup_id"], volume["state"]))
            return "done"
        if step == "launching" and volume["state"] == "available":
            try:
                drill_resources.attach_volume(self.ec2, drill["drill_volume_id"], drill["drill_instance_id"], self.settings.device_name)
            except Exception as error:  # pylint: disable=broad-except
                drill.update(status=ERROR, reason="AttachVolume: %s" % error_text(error))
                self.fail(drill["source_id"], drill["reason"])
                return "done"
            return "attaching"
        if volume["attached_to"] == drill["drill_instance_id"] and volume["attachment_state"] == "attached":
            return "booting"
        return step

    def _wait_until_ready(self, drills):
        """Poll every drill at once (instances, volumes, SSM nodes: one describe each a round) until each is ready or time is up."""
        progress = {drill["source_id"]: "launching" for drill in drills}
        deadline = self.clock() + self.settings.wait_timeout
        pending = list(drills)
        round_number = 0
        while pending:
            instances = drill_resources.describe_instances(self.ec2, [d["drill_instance_id"] for d in pending])
            volume_ids = [d["drill_volume_id"] for d in pending if d["drill_volume_id"]]
            volumes = drill_resources.describe_volumes(self.ec2, volume_ids) if volume_ids else {}
            for drill in pending:
                progress[drill["source_id"]] = self._advance(drill, progress, instances, volumes)
            booting = [d for d in pending if progress[d["source_id"]] == "booting"]
            nodes = nodes_by_id(self.ssm, [d["drill_instance_id"] for d in booting]) if booting else {}
            for drill in booting:
                if nodes.get(drill["drill_instance_id"], {}).get("ping_status") == ONLINE:
                    ready_at = self.utcnow()
                    drill.update(status="ready", ready_at=format_moment(ready_at),
                                 seconds_to_ready=round((ready_at - parse_aws_time(drill["launched_at"])).total_seconds(), 3))
                    progress[drill["source_id"]] = "done"
            pending = [d for d in pending if progress[d["source_id"]] != "done"]
            remaining = deadline - self.clock()
            if not pending or remaining <= 0:
                break
            self.sleep(min(poll_delay(round_number), remaining))
            round_number += 1
        waited_for = {"launching": "the instance to run%s" % (" and the volume to be created" if self.settings.source == "snapshot" else ""),
                      "attaching": "the volume to attach", "booting": "its SSM agent to come online"}
        for drill in pending:
            waiting = waited_for[progress[drill["source_id"]]]
            drill.update(status="not_ready", reason="still waiting for %s after wait_timeout %ss" % (waiting, self.settings.wait_timeout))

    # -- finish ---------------------------------------------------------------------------------------------

    def _judged(self, preview):
        """The drills with their verdicts; the backups tagged with them (once: a tag already so is not written again)."""
        drills = [dict(drill) for drill in check_drills(self.settings.drills)]
        invocations = {i.get("instance_id"): i for i in self.settings.verification}
        for drill in drills:
            drill.update(verdict(drill, invocations.get(drill.get("drill_instance_id")), self.utcnow()))
        to_tag = {d["backup_id"]: d for d in drills if d["result"] in (PASSED, FAILED)}
        current = self._backup_tags(sorted(to_tag))
        for backup_id, drill in sorted(to_tag.items()):
            tags = {VERIFIED_AT_KEY: format_created_at(drill["verified_at"]), VERIFY_RESULT_KEY: drill["result"]}
            if backup_id not in current:
                self.warnings.append("%s %s no longer exists; the drill's outcome is not recorded on it" % (drill.get("backup_type", "backup"), backup_id))
            elif any(current[backup_id].get(key) != value for key, value in tags.items()):
                if not preview:
                    try:
                        drill_resources.tag_backup(self.ec2, backup_id, tags)
                    except Exception as error:  # pylint: disable=broad-except
                        self.fail(backup_id, "CreateTags: %s" % error_text(error))
                        continue
                self.changed = True
                drill["recorded"] = True
        for drill in drills:
            drill.setdefault("recorded", False)
            drill["verified_at"] = format_moment(drill["verified_at"]) if drill["verified_at"] else None
        return drills

    def _backup_tags(self, backup_ids):
        if not backup_ids:
            return {}
        if self.settings.source == "image":
            return {image["image_id"]: image["tags"] for image in describe_images_by_id(self.ec2, backup_ids)}
        return {snapshot_id: snapshot["tags"] for snapshot_id, snapshot in describe_snapshots_by_id(self.ec2, backup_ids).items()}

    def _clean_up(self, preview):
        doomed = self._leftovers(own=True)
        own = [(r, reason) for r, reason in doomed if r["tags"].get(DRILL_RUN_KEY) == self.settings.run_id]
        others = [(r, reason) for r, reason in doomed if r["tags"].get(DRILL_RUN_KEY) != self.settings.run_id]
        if preview:
            removed, remaining = [self._entry(r, reason) for r, reason in own], []
            self.result["leftovers_removed"] = [self._entry(r, reason) for r, reason in others]
            self.changed = self.changed or bool(doomed)
        else:
            removed, remaining = self._remove(own)
            self.result["leftovers_removed"], _others_remaining = self._remove(others)
        cleanup = self.result["cleanup"]
        cleanup["instances_terminated"] = sorted(e["resource_id"] for e in removed if e["resource_type"] == "instance")
        cleanup["volumes_deleted"] = sorted(e["resource_id"] for e in removed if e["resource_type"] == "volume")
        cleanup["remaining"] = remaining
        cleanup["complete"] = not remaining
        return set(remaining)

    def finish(self, preview=False):
        drills = self._judged(preview)
        remaining = self._clean_up(preview)
        for drill in drills:
            mine = {drill.get("drill_instance_id"), drill.get("drill_volume_id")} - {None}
            drill["cleanup"] = "incomplete" if mine & remaining else ("planned" if preview else "done")
        self.result["drills"] = drills
        return self._finish_totals()

    # -- the result ------------------------------------------------------------------------------------------

    def _finish_totals(self):
        drills = self.result["drills"]
        totals = {"sources": len(drills) + len(self.result["sources_skipped"]), "skipped": len(self.result["sources_skipped"]),
                  "launched": sum(1 for d in drills if d.get("drill_instance_id")), "ready": sum(1 for d in drills if d["status"] == "ready")}
        if self.settings.state == "finished":
            for result in (PASSED, FAILED, ERROR, "planned"):
                totals[result] = sum(1 for d in drills if d.get("result") == result)
        self.result["totals"] = totals
        return self.result

    def outcome(self):
        return dict(self.result, changed=self.changed)
