# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One run of patch_rollout: select, scan, and in install mode patch in waves (docs/patch_rollout.md).

The sequence, and why:
1. Select in EC2 (ids, filters, or the patch group under both tag keys): EC2 tells a stopped
   instance from one whose agent is offline. With start_stopped (install mode), stopped instances
   are started and waited for; whatever happens after, step 6 stops them again. Instances SSM
   cannot reach are skipped with the reason (ssm_instances).
2. Scan (AWS-RunPatchBaseline, Operation=Scan) through RunCommand, then read the patch states, 50
   instances a call. Scan mode ends here: a scan installs nothing, so the run reports no change.
3. Install mode: the instances with something to install are planned in waves that keep each of
   their target groups' min_healthy; a minimum that can never be kept refuses the run here, before
   anything is changed. Instances an earlier run left out of service (service_marks) join the
   waves, so that their health check decides whether they go back.
4. A pre-patch AMI of each, by the rotation engine under its own policy, retention and min_interval
   (a re-run after a killed run takes none within min_interval), waited for until available; an
   instance without one is not patched.
5. Wave after wave (patch_wave.WaveRun, run by rollout_batches.BatchRollout); a wave with more
   failures than max_failures stops the rollout, and no later wave starts.
6. Instances started in step 1 are stopped again, each left in the state it was found in.
Check mode runs steps 1 to 4 without starting, scanning or imaging anything.
"""

import collections
import time

from ansible_collections.cloudops.aws.plugins.module_utils.ami_rotation import AmiBackups
from ansible_collections.cloudops.aws.plugins.module_utils.ami_rotation import ImageSettings
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import select_instances
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import start_instances
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import stop_instances
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import wait_for_instance_states
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import DEFAULT_NAME_TEMPLATE
from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import MaintenanceMarks
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import COMPLIANT
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import FAILED
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import NEVER_SCANNED
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import NON_COMPLIANT
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import NOT_REACHED
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import SKIPPED
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import compliance
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import counts
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import new_entry
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import totals
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import verdict
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout_settings import new_snapshot_id
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout_settings import scan_request
from ansible_collections.cloudops.aws.plugins.module_utils.patch_states import patch_states_by_id
from ansible_collections.cloudops.aws.plugins.module_utils.patch_states import select_by_patch_group
from ansible_collections.cloudops.aws.plugins.module_utils.patch_wave import WaveRun
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import BatchRollout
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import add_reason
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import plan_batches
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import RotationRun
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import ONLINE
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import nodes_by_id
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import select_by_ids
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_until_settled

# `sender` is the SSM client for SendCommand only, without botocore's retries (ssm_commands.send_command).
Clients = collections.namedtuple("Clients", "ec2 ssm sender elbv2 autoscaling")


def pre_patch_image(instance_id, rotation_result):
    """(image id or None, why there is none) from the rotation of the pre-patch AMIs.

    The image made by this run, once available; or, when min_interval skipped the instance, its
    newest available image of the policy (made by an earlier run, perhaps one that was killed).
    """
    created = [image for image in rotation_result["images_created"] if image["instance_id"] == instance_id]
    if created:
        image = created[0]
        if image["state"] in ("available", "planned"):
            return image["image_id"], None
        return None, "pre-patch AMI %s is %s, not available (pre_image_timeout)" % (image["image_id"], image["state"])
    kept = [image for image in rotation_result["images_retained"] + rotation_result["images_protected"]
            if image["instance_id"] == instance_id and image["state"] == "available"]
    if kept:
        return max(kept, key=lambda image: image["created_at"])["image_id"], None
    return None, "no available pre-patch AMI"


class PatchRollout(BatchRollout):
    """One patch_rollout run; `result` holds everything returned, also when an AWS error ends the run."""

    name = "patch_rollout"
    verb = "patched"

    def __init__(self, clients, settings, now, check_mode=False, sleep=time.sleep, clock=time.monotonic):
        super().__init__(clients, settings, sleep, clock)
        self.now = now
        self.check_mode = check_mode
        self.snapshot_id = new_snapshot_id()
        # The latest patch state read of each instance, and those of the first scan (for "before").
        self.states = {}
        self.states_before = {}
        self.started = []
        # instance_schedule leaves the instances this run works on alone while they carry its mark.
        self.maintenance = MaintenanceMarks(clients.ec2, self.name)
        self.result.update(instances=[], waves=[], totals=totals([]), instances_skipped=[], snapshot_id=self.snapshot_id,
                           compliance=compliance([], {}, now), pre_patch_images={})

    # -- what the waves share (and fail, command, run_batch, verdict: BatchRollout) ----------------

    def wait_online(self, instance_ids):
        """Those of `instance_ids` whose SSM agent is Online, once all are or reboot_timeout is up."""
        def describe(ids):
            return [{"instance_id": instance_id, "state": "online" if node["ping_status"] == ONLINE else "pending"}
                    for instance_id, node in nodes_by_id(self.clients.ssm, ids).items()]
        latest = poll_until_settled(describe, "instance_id", instance_ids, self.settings.reboot_timeout, sleep=self.sleep, clock=self.clock)
        return [instance_id for instance_id in instance_ids if latest.get(instance_id, {}).get("state") == "online"]

    def scan(self, instance_ids, step):
        """Scan and read the patch states; an instance whose scan failed fails, named by `step`. Returns those scanned."""
        errors = self.command(instance_ids, scan_request(self.snapshot_id))
        for instance_id, error in sorted(errors.items()):
            self.fail(instance_id, "%s: %s" % (step, error))
        scanned = [instance_id for instance_id in instance_ids if instance_id not in errors]
        self.read_states(scanned)
        return scanned

    def read_states(self, instance_ids):
        if instance_ids:
            self.states.update(patch_states_by_id(self.clients.ssm, instance_ids))

    # -- 1. selection ------------------------------------------------------------------------------

    def _select(self):
        settings = self.settings
        if settings.patch_group is not None:
            instances, gone = select_by_patch_group(self.clients.ec2, settings.patch_group)
            if not instances and not gone:
                raise SelectionError("patch_group: no instance is tagged 'Patch Group' or 'PatchGroup' with %r" % settings.patch_group)
        else:
            instance_ids = list(settings.instance_ids) if settings.instance_ids else None
            instances, gone = select_instances(self.clients.ec2, instance_ids, settings.filters)
        self.select(instances, gone, new_entry)
        return instances

    def _ready(self, instances):
        """The ids SSM can run the patch baseline on; the others are skipped with the reason."""
        settings = self.settings
        running = [i["instance_id"] for i in instances if i["state"] == "running"]
        stopped = [i["instance_id"] for i in instances if i["state"] == "stopped"]
        for instance in instances:
            if instance["state"] not in ("running", "stopped"):
                self.skip(instance["instance_id"], "instance is %s" % instance["state"])
        if stopped and settings.start_stopped and not settings.install:
            self.warnings.append("start_stopped: stopped instances are started in install mode only; skipped %d" % len(stopped))
        to_start = stopped if settings.start_stopped and settings.install else []
        for instance_id in stopped:
            if instance_id not in to_start:
                self.skip(instance_id, "instance is stopped (start_stopped starts it in install mode)")
        if to_start and not self.check_mode:
            self._start(to_start)
        selection = select_by_ids(self.clients.ssm, running + to_start)
        # In check mode, an instance start_stopped would start counts as ready if SSM knows it.
        would_start = [i for i in selection.offline_ids if i in to_start] if self.check_mode else []
        for item in selection.not_ready():
            if item["instance_id"] not in would_start:
                self.skip(item["instance_id"], item["reason"])
        return [i for i in running + to_start if i in selection.online or i in would_start]

    def _start(self, instance_ids):
        self.maintenance.mark(instance_ids)
        start_instances(self.clients.ec2, instance_ids)
        self.started = list(instance_ids)
        self.result["changed"] = True
        states = wait_for_instance_states(self.clients.ec2, instance_ids, self.settings.reboot_timeout, sleep=self.sleep, clock=self.clock)
        # One not Online by then is skipped as offline (ssm_instances names its PingStatus).
        self.wait_online([i for i in instance_ids if states.get(i) == "running"])

    # -- 2. scan -------------------------------------------------------------------------------

    def _scan_all(self, ready):
        if self.check_mode:
            self.read_states(ready)
        else:
            self.scan(ready, "scan")
        self.states_before = dict(self.states)
        for instance_id in ready:
            entry = self.entries[instance_id]
            if entry["status"] == FAILED:
                continue
            summary = counts(self.states.get(instance_id))
            entry["missing_before"] = entry["missing_after"] = summary["missing"] if summary else None
            entry["failed_patches"] = summary["failed"] if summary else None
            found = verdict(self.instances[instance_id], self.states.get(instance_id), self.now)
            if found == NEVER_SCANNED and self.check_mode:
                entry.update(status=NOT_REACHED, reason="never scanned; check mode sends no scan")
            elif found == NEVER_SCANNED:
                self.fail(instance_id, "SSM has no patch state after the scan")
            else:
                entry["status"] = found

    # -- 3 to 5. install -------------------------------------------------------------------------

    def _needs_install(self, instance_id):
        summary = counts(self.states.get(instance_id))
        if not summary or self.entries[instance_id]["status"] not in (COMPLIANT, NON_COMPLIANT):
            return False
        pending_reboot = summary["installed_pending_reboot"] and self.settings.reboot_option == "RebootIfNeeded"
        return bool(summary["missing"] or summary["failed"] or pending_reboot)

    def _plan(self, targets, left_out):
        """(waves, {instance_id: [Registration]}); `left_out` are the registrations earlier runs did not restore."""
        waves, registrations = plan_batches(self.clients.elbv2, targets, left_out, self.settings.min_healthy, self.settings.canary,
                                            self.settings.wave_size)
        for number, wave in enumerate(waves, 0 if self.settings.canary else 1):
            for instance_id in wave:
                self.entries[instance_id]["wave"] = number
        self.result["waves"] = waves
        return waves, registrations

    def _pre_patch_images(self, targets):
        settings = self.settings.pre_image
        rotation = RotationRun(AmiBackups(self.clients.ec2, self.clients.autoscaling, settings, ImageSettings(DEFAULT_NAME_TEMPLATE)),
                               settings, self.now)
        subjects = [self.instances[instance_id] for instance_id in targets]
        result = rotation.preview(subjects) if self.check_mode else rotation.run(subjects)
        self.result["pre_patch_images"] = result
        self.warnings.extend(rotation.warnings)
        if not self.check_mode and (result["images_created"] or result["images_deregistered"]):
            self.result["changed"] = True
        errors = {failure["instance_id"]: failure["error"] for failure in result["failures"]}
        for instance_id in targets:
            image_id, missing = pre_patch_image(instance_id, result)
            self.entries[instance_id]["pre_patch_image"] = image_id
            if missing and not self.check_mode:
                self.fail(instance_id, "%s%s; not patched" % (missing, ": " + errors[instance_id] if instance_id in errors else ""))
            elif instance_id in errors:
                # The image is there; what failed was pruning an older one.
                self.warnings.append("pre-patch AMIs of %s: %s" % (instance_id, errors[instance_id]))

    def _install(self, ready):
        to_install = [instance_id for instance_id in ready if self._needs_install(instance_id)]
        for instance_id in ready:
            if instance_id not in to_install and self.entries[instance_id]["status"] == NON_COMPLIANT:
                add_reason(self.entries[instance_id], "nothing to install: rejected patches installed, or a reboot pending under NoReboot")
        # Instances an earlier run left out of service go through a wave too: its health check decides whether they go back.
        left_out = self.left_out([i for i in ready if self.entries[i]["status"] != FAILED])
        targets = [instance_id for instance_id in ready if instance_id in to_install or instance_id in left_out]
        if not targets:
            return
        waves, registrations = self._plan(targets, left_out)
        if self.settings.pre_image and to_install:
            self._pre_patch_images(to_install)
        if self.check_mode:
            self.result["changed"] = True
            for instance_id in targets:
                entry = self.entries[instance_id]
                entry["status"] = NOT_REACHED
                add_reason(entry, "check mode: would be %s in wave %d" % ("patched" if instance_id in to_install else "checked", entry["wave"]))
            return
        self.maintenance.mark(targets)
        for wave in waves:
            self._run_wave(wave, registrations)

    def _run_wave(self, wave, registrations):
        self.maintenance.refresh()
        self.run_batch("wave %d" % self.entries[wave[0]]["wave"], wave, lambda patching: WaveRun(self, patching, registrations).run())

    # -- 6. leave stopped instances stopped --------------------------------------------------------

    def _stop_started(self):
        if not self.started:
            return
        try:
            stop_instances(self.clients.ec2, self.started)
            states = wait_for_instance_states(self.clients.ec2, self.started, self.settings.reboot_timeout, sleep=self.sleep, clock=self.clock)
        except Exception as error:  # pylint: disable=broad-except
            # This runs after an AWS error too, which is the one the task reports; this one must not hide it.
            self.problems.append("could not stop again the instance(s) it started, %s: %s" % (", ".join(self.started), error_text(error)))
            return
        for instance_id in self.started:
            if states.get(instance_id) == "stopped":
                self.entries[instance_id]["started_and_stopped"] = True
            else:
                self.problems.append("%s was started for patching and is %s, not stopped again" % (instance_id, states.get(instance_id, "unknown")))

    # -- the run ---------------------------------------------------------------------------------

    def run(self):
        try:
            ready = self._ready(self._select())
            self._scan_all(ready)
            if self.settings.install:
                self._install(ready)
        finally:
            self._stop_started()
            self.maintenance.clear()
            self.warnings.extend(self.maintenance.warnings)
            self._report()
        return self.result

    def _report(self):
        entries = list(self.entries.values())
        for entry in entries:
            # Only when an error ended the run: what it did not get to.
            if entry["status"] is None:
                entry["status"] = NOT_REACHED
        reached = [self.instances[e["instance_id"]] for e in entries if e["status"] != SKIPPED]
        self.result.update(
            instances=entries,
            totals=totals(entries),
            instances_skipped=[{"instance_id": e["instance_id"], "reason": e["reason"]} for e in entries if e["status"] == SKIPPED],
            compliance=compliance(reached, self.states, self.now),
        )
