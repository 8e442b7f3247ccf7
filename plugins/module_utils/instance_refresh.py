# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One run of instance_refresh: roll an AMI out to an Auto Scaling group, cancel, or roll back (docs/instance_refresh.md).

Rolling out (state present), in order:
1. The AMI: `image_id`, or the newest available generation of an ami_rotate policy; the alarms;
   the group and its launch template version. Anything unknown or unusable refuses the run here.
2. A refresh already in progress is reported and the run stops; with wait_for_in_progress it is
   followed to its end first, and the group read again.
3. The target version: the group's own when it already has the AMI; else a version made from the
   group's with only the AMI changed (launch_templates), or such a version made by an earlier run,
   when it is the template's latest.
4. Nothing to do when the target is the group's version and every instance was launched from it.
   Otherwise a refresh with the target as its desired configuration: the group keeps its version
   until the refresh succeeds, so a failed or rolled-back refresh leaves it as it was, and AWS can
   roll it back (only a refresh with a desired configuration, of a group on a numbered version).
5. With wait, the refresh is followed to its end within wait_timeout, its progress sampled.
Every wait of a run shares one deadline, wait_timeout after the run began.
"""

import collections
import time
import uuid

from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import ACTIVE
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import REVERSIBLE
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import cancel_refresh
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import describe_group
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import describe_refresh
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import follow_refresh
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import latest_refresh
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import rollback_refresh
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import staying
from ansible_collections.cloudops.aws.plugins.module_utils.auto_scaling import start_refresh
from ansible_collections.cloudops.aws.plugins.module_utils.cloudwatch_alarms import missing_alarms
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import describe_image
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import describe_policy_images
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import newest_available_image
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import describe_instances_by_id
from ansible_collections.cloudops.aws.plugins.module_utils.launch_templates import create_version
from ansible_collections.cloudops.aws.plugins.module_utils.launch_templates import describe_version
from ansible_collections.cloudops.aws.plugins.module_utils.launch_templates import image_version_request

Clients = collections.namedtuple("Clients", "ec2 autoscaling cloudwatch")

# The final status each state asks for.
WANTED = {"present": "Successful", "cancelled": "Cancelled", "rolled_back": "RollbackSuccessful"}


class InstanceRefreshRun:
    """One instance_refresh run; `result` holds everything returned, also when an AWS error ends the run."""

    def __init__(self, clients, settings, check_mode=False, sleep=time.sleep, clock=time.monotonic):
        self.clients = clients
        self.settings = settings
        self.check_mode = check_mode
        self.sleep = sleep
        self.clock = clock
        self.began = clock()
        self.deadline = self.began + settings.wait_timeout
        self.problem = None
        # ending_on_errors hands them to the module; a run has none of its own.
        self.warnings = []
        self.result = {"changed": False, "image": None, "launch_template": None, "instance_refresh": None,
                       "refresh_in_progress": None, "progress": [], "instances": []}

    def verdict(self):
        """Why the task fails (the refresh ended otherwise than asked, or outlived wait_timeout), or None."""
        return self.problem

    def run(self):
        group = {"present": self.roll_out, "cancelled": self.cancel, "rolled_back": self.roll_back}[self.settings.state]()
        self.result["instances"] = self.instances(group)
        return self.result

    # -- reading ---------------------------------------------------------------------------------

    def image(self):
        """The AMI to roll out, available; ValueError naming the option otherwise."""
        settings, ec2 = self.settings, self.clients.ec2
        if settings.image_id:
            image = describe_image(ec2, settings.image_id)
            if image is None:
                raise ValueError("image_id: %s does not exist (or is not shared with this account)" % settings.image_id)
            if image["state"] != "available":
                raise ValueError("image_id: %s is %s, not available" % (settings.image_id, image["state"]))
            return image
        images = describe_policy_images(ec2, settings.image_policy, settings.image_policy_tags())
        image = newest_available_image(images)
        if image is None:
            found = ", ".join("%s (%s)" % (i["image_id"], i["state"]) for i in images) or "none"
            raise ValueError("image_policy: no available image of policy %r with tags %r; found: %s"
                             % (settings.image_policy, settings.image_policy_tags(), found))
        return image

    def group(self):
        group = describe_group(self.clients.autoscaling, self.settings.group_name)
        if group is None:
            raise ValueError("group_name: no Auto Scaling group %r" % self.settings.group_name)
        return group

    def source_version(self, group):
        """The launch template version the group launches from; ValueError when it has none."""
        template = group["launch_template"]
        if template is None:
            raise ValueError("group_name: %r launches from a launch configuration or a mixed instances policy, "
                             "not a launch template" % group["group_name"])
        source = describe_version(self.clients.ec2, template["launch_template_id"], template["version"])
        if source is None:
            raise ValueError("group_name: the launch template %s version %s of %r does not exist"
                             % (template["launch_template_id"], template["version"], group["group_name"]))
        return source

    def instances(self, group):
        """The group's instances, read again when the run changed or followed something, with the AMI each runs."""
        if self.result["changed"] or self.result["progress"]:
            group = self.group()
        ids = [instance["instance_id"] for instance in group["instances"]]
        images = {summary["instance_id"]: summary["image_id"] for summary in describe_instances_by_id(self.clients.ec2, ids)}
        return [dict(instance, image_id=images.get(instance["instance_id"])) for instance in group["instances"]]

    # -- following --------------------------------------------------------------------------------

    def follow(self, refresh_id):
        """The refresh once it ends or the run's deadline passes, its progress added to result["progress"]."""
        return follow_refresh(self.clients.autoscaling, self.settings.group_name, refresh_id, self.deadline,
                              self.settings.poll_interval, self.result["progress"], self.began, sleep=self.sleep, clock=self.clock)

    def timed_out(self, refresh):
        if refresh["status"] not in ACTIVE:
            return False
        self.problem = ("instance refresh %s of %s is still %s (%s%% complete) after wait_timeout (%ds); it goes on in AWS"
                        % (refresh["instance_refresh_id"], self.settings.group_name, refresh["status"],
                           refresh["percentage_complete"], self.settings.wait_timeout))
        return True

    def finish(self, refresh_id):
        """Follow the run's own refresh (with wait) and judge its end against the state asked for."""
        refresh = self.follow(refresh_id) if self.settings.wait else describe_refresh(
            self.clients.autoscaling, self.settings.group_name, refresh_id)
        self.result["instance_refresh"] = refresh
        wanted = WANTED[self.settings.state]
        if self.settings.wait and not self.timed_out(refresh) and refresh["status"] != wanted:
            self.problem = "instance refresh %s of %s ended %s, not %s: %s" % (
                refresh_id, self.settings.group_name, refresh["status"], wanted,
                refresh["rollback_reason"] or refresh["status_reason"] or "no reason given")

    # -- rolling out ------------------------------------------------------------------------------

    def roll_out(self):
        settings = self.settings
        image = self.image()
        self.result["image"] = {key: image[key] for key in ("image_id", "name", "state")}
        missing = missing_alarms(self.clients.cloudwatch, list(settings.alarms))
        if missing:
            raise ValueError("alarms: no CloudWatch alarm named %s" % ", ".join(missing))
        group = self.group()
        source = self.source_version(group)
        active = latest_refresh(self.clients.autoscaling, settings.group_name)
        if active and active["status"] in ACTIVE:
            self.result["refresh_in_progress"] = active
            if not settings.wait_for_in_progress or self.check_mode:
                self.result["msg"] = ("instance refresh %s of %s is %s (%s%% complete); nothing was started%s"
                                      % (active["instance_refresh_id"], settings.group_name, active["status"], active["percentage_complete"],
                                         "" if self.check_mode else ": set wait_for_in_progress to wait for it first"))
                return group
            if self.timed_out(self.follow(active["instance_refresh_id"])):
                return group
            group = self.group()
            source = self.source_version(group)
        template = group["launch_template"]
        if settings.auto_rollback and not template["version"].isdigit():
            raise ValueError("auto_rollback: %r launches from launch template version %s; AWS rolls back only a group on a "
                             "numbered version: point the group at one, or set auto_rollback false"
                             % (group["group_name"], template["version"]))
        target = source if source["image_id"] == image["image_id"] else self.image_version(source, image)
        self.result["launch_template"] = {"launch_template_id": source["launch_template_id"],
                                          "launch_template_name": source["launch_template_name"],
                                          "source_version": source["version"], "version": target["version"],
                                          "created": target.get("created", False)}
        versions = {str(source["version"]), template["version"]}
        if target is source and all(instance["launch_template_id"] == source["launch_template_id"]
                                    and instance["launch_template_version"] in versions for instance in staying(group)):
            return group
        self.result["changed"] = True
        if self.check_mode:
            return group
        desired = {"LaunchTemplate": {"LaunchTemplateId": target["launch_template_id"], "Version": str(target["version"])}}
        self.finish(start_refresh(self.clients.autoscaling, settings.group_name, desired, settings.preferences()))
        return group

    def image_version(self, source, image):
        """The version to refresh to, `created` when this run makes it: the template's latest when it is the source with
        `image` (made by an earlier run), else a new one from the source (in check mode, not made: its number is None)."""
        data, expected = image_version_request(source["data"], image)
        latest = describe_version(self.clients.ec2, source["launch_template_id"], "$Latest")
        if latest and latest["version"] != source["version"] and latest["data"] == expected:
            return latest
        if self.check_mode:
            return dict(source, version=None, image_id=image["image_id"], data=expected, created=True)
        self.result["changed"] = True
        description = "cloudops.aws instance_refresh: %s on version %d" % (image["image_id"], source["version"])
        return dict(create_version(self.clients.ec2, source, data, description, str(uuid.uuid4())), created=True)

    # -- cancelling and rolling back -----------------------------------------------------------------

    def cancel(self):
        return self.stop(("Pending", "InProgress", "Baking", "RollbackInProgress"), "Cancelling", cancel_refresh)

    def roll_back(self):
        return self.stop(REVERSIBLE, "RollbackInProgress", rollback_refresh)

    def stop(self, acted_on, stopping, request):
        """Cancel or roll back the group's refresh in progress: `request` when it is in one of `acted_on`, nothing more
        when it is `stopping` already; then follow it (with wait). No refresh in progress: nothing to do."""
        group = self.group()
        refresh = latest_refresh(self.clients.autoscaling, self.settings.group_name)
        self.result["instance_refresh"] = refresh
        if refresh is None or refresh["status"] not in ACTIVE:
            return group
        if refresh["status"] not in acted_on + (stopping,):
            self.problem = "instance refresh %s of %s is %s: it cannot be %s" % (
                refresh["instance_refresh_id"], self.settings.group_name, refresh["status"], self.settings.state.replace("_", " "))
            return group
        if refresh["status"] != stopping:
            self.result["changed"] = True
            if self.check_mode:
                return group
            request(self.clients.autoscaling, self.settings.group_name)
        self.finish(refresh["instance_refresh_id"])
        return group
