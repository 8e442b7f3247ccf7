# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for replacing an instance's root volume from an AMI (patch_rollout's rollback).

CreateReplaceRootVolumeTask restores the root volume from the image while the instance keeps its
id, addresses, other volumes and target-group registrations; the instance reboots on the way.
The replaced volume is kept (DeleteReplacedRootVolume false), so what went wrong can be examined.
"""

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_until_settled

# States of a task that has not ended yet (succeeded, failed and failed-detached are final).
UNFINISHED_STATES = ("pending", "in-progress", "failing")


def replace_root_volume(ec2, instance_id, image_id, client_token):
    """The task id. `client_token` makes a retry after a lost answer return the same task, not start a second one."""
    task = ec2.create_replace_root_volume_task(aws_retry=True, InstanceId=instance_id, ImageId=image_id,
                                               DeleteReplacedRootVolume=False, ClientToken=client_token)
    return task["ReplaceRootVolumeTask"]["ReplaceRootVolumeTaskId"]


def summarize_task(task):
    state = task["TaskState"]
    return {
        "task_id": task["ReplaceRootVolumeTaskId"],
        "instance_id": task["InstanceId"],
        "image_id": task.get("ImageId", ""),
        "task_state": state,
        # poll_until_settled waits while the state reads `pending`.
        "state": "pending" if state in UNFINISHED_STATES else state,
    }


def describe_tasks(ec2, task_ids):
    tasks = all_pages(ec2.describe_replace_root_volume_tasks, "ReplaceRootVolumeTasks", ReplaceRootVolumeTaskIds=list(task_ids))
    return [summarize_task(task) for task in tasks]


def wait_for_tasks(ec2, task_ids, timeout, **clock):
    """{task_id: summary} once every task has ended or time is up, one DescribeReplaceRootVolumeTasks a round."""
    return poll_until_settled(lambda ids: describe_tasks(ec2, ids), "task_id", task_ids, timeout, **clock)
