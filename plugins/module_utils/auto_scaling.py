# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for Auto Scaling groups and their instance refreshes: read, start, cancel, roll back, follow."""

import time

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import tolerating
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import POLL_DELAYS
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_delay

# A refresh in one of these blocks another (InstanceRefreshInProgress); the others are final.
ACTIVE = ("Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress")
# The states RollbackInstanceRefresh acts on.
REVERSIBLE = ("Pending", "InProgress", "Baking")
# CancelInstanceRefresh and RollbackInstanceRefresh when the refresh ended meanwhile.
NO_ACTIVE_REFRESH_CODES = ("ActiveInstanceRefreshNotFound",)


def summarize_group(group):
    template = group.get("LaunchTemplate")
    return {
        "group_name": group["AutoScalingGroupName"],
        # None for a launch configuration or a mixed instances policy.
        "launch_template": None if not template else {
            "launch_template_id": template["LaunchTemplateId"],
            "launch_template_name": template.get("LaunchTemplateName"),
            "version": template.get("Version") or "$Default",
        },
        "desired_capacity": group["DesiredCapacity"],
        "instances": [{
            "instance_id": instance["InstanceId"],
            "lifecycle_state": instance["LifecycleState"],
            "health_status": instance.get("HealthStatus"),
            "launch_template_id": instance.get("LaunchTemplate", {}).get("LaunchTemplateId"),
            "launch_template_version": instance.get("LaunchTemplate", {}).get("Version"),
        } for instance in group.get("Instances", [])],
    }


def describe_group(autoscaling, group_name):
    """The group's summary, or None when there is no such group."""
    groups = autoscaling.describe_auto_scaling_groups(aws_retry=True, AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
    return summarize_group(groups[0]) if groups else None


def staying(group):
    """The group's instances that are not on their way out."""
    return [instance for instance in group["instances"] if not instance["lifecycle_state"].startswith("Terminat")]


def summarize_refresh(refresh):
    return {
        "instance_refresh_id": refresh["InstanceRefreshId"],
        "status": refresh["Status"],
        "status_reason": refresh.get("StatusReason"),
        "percentage_complete": refresh.get("PercentageComplete", 0),
        "instances_to_update": refresh.get("InstancesToUpdate"),
        "start_time": refresh["StartTime"].isoformat() if refresh.get("StartTime") else None,
        "end_time": refresh["EndTime"].isoformat() if refresh.get("EndTime") else None,
        "desired_launch_template": refresh.get("DesiredConfiguration", {}).get("LaunchTemplate"),
        "rollback_reason": refresh.get("RollbackDetails", {}).get("RollbackReason"),
    }


def latest_refresh(autoscaling, group_name):
    """The group's newest instance refresh (DescribeInstanceRefreshes answers newest first), or None."""
    refreshes = autoscaling.describe_instance_refreshes(aws_retry=True, AutoScalingGroupName=group_name, MaxRecords=1)["InstanceRefreshes"]
    return summarize_refresh(refreshes[0]) if refreshes else None


def describe_refresh(autoscaling, group_name, refresh_id):
    refreshes = autoscaling.describe_instance_refreshes(aws_retry=True, AutoScalingGroupName=group_name,
                                                        InstanceRefreshIds=[refresh_id])["InstanceRefreshes"]
    return summarize_refresh(refreshes[0])


def same_template(spec, other):
    """Whether two launch template specifications name the same template id and version."""
    return all((spec or {}).get(key) == (other or {}).get(key) for key in ("LaunchTemplateId", "Version"))


def start_refresh(autoscaling, group_name, desired, preferences):
    """The id of a new Rolling refresh of the group to `desired` (a DesiredConfiguration).

    StartInstanceRefresh has no client token. When the answer to a start is lost, the retry finds a
    refresh in progress: it is the first attempt's when it has the same desired configuration.
    """
    try:
        return autoscaling.start_instance_refresh(aws_retry=True, AutoScalingGroupName=group_name, Strategy="Rolling",
                                                  DesiredConfiguration=desired, Preferences=preferences)["InstanceRefreshId"]
    except ClientError as error:
        if error_code(error) != "InstanceRefreshInProgress":
            raise
        latest = latest_refresh(autoscaling, group_name)
        if latest and latest["status"] in ACTIVE and same_template(latest["desired_launch_template"], desired["LaunchTemplate"]):
            return latest["instance_refresh_id"]
        raise


def cancel_refresh(autoscaling, group_name):
    """CancelInstanceRefresh; a refresh that ended meanwhile has nothing to cancel."""
    with tolerating(NO_ACTIVE_REFRESH_CODES):
        autoscaling.cancel_instance_refresh(aws_retry=True, AutoScalingGroupName=group_name)


def rollback_refresh(autoscaling, group_name):
    """RollbackInstanceRefresh; a refresh that ended meanwhile has nothing to roll back."""
    with tolerating(NO_ACTIVE_REFRESH_CODES):
        autoscaling.rollback_instance_refresh(aws_retry=True, AutoScalingGroupName=group_name)


def progress_sample(refresh, elapsed):
    return {"instance_refresh_id": refresh["instance_refresh_id"], "elapsed": round(elapsed, 1), "status": refresh["status"],
            "percentage_complete": refresh["percentage_complete"], "instances_to_update": refresh["instances_to_update"],
            "status_reason": refresh["status_reason"]}


def _news(sample, progress):
    """Whether `sample` tells something the last sample of its refresh did not."""
    previous = next((earlier for earlier in reversed(progress) if earlier["instance_refresh_id"] == sample["instance_refresh_id"]), None)
    return previous is None or any(previous[key] != sample[key] for key in ("status", "percentage_complete", "instances_to_update", "status_reason"))


def follow_refresh(autoscaling, group_name, refresh_id, deadline, interval, progress, since, sleep=time.sleep, clock=time.monotonic):
    """The refresh's summary once it is no longer ACTIVE, or when `deadline` (a `clock()` time) has passed.

    Each read that shows a new status, reason or progress is appended to `progress` (seconds since
    `since`). Reads follow waiting.poll_delay's schedule, no delay longer than `interval`.
    """
    schedule = tuple(min(delay, interval) for delay in POLL_DELAYS)
    round_number = 0
    while True:
        refresh = describe_refresh(autoscaling, group_name, refresh_id)
        sample = progress_sample(refresh, clock() - since)
        if _news(sample, progress):
            progress.append(sample)
        remaining = deadline - clock()
        if refresh["status"] not in ACTIVE or remaining <= 0:
            return refresh
        sleep(min(poll_delay(round_number, schedule), remaining))
        round_number += 1
