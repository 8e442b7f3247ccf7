"""CreateReplaceRootVolumeTask and DescribeReplaceRootVolumeTasks, which moto 5.2.5 lacks
(NotImplementedError), as the EC2 API reference and the "Replace a root volume" guide describe them.

- The instance must be `running` (else IncorrectState). The replacement comes from ImageId
  (InvalidAMIID.NotFound when unknown), from SnapshotId (InvalidSnapshot.NotFound), or, with
  neither, from the instance's launch state; ImageId with SnapshotId is InvalidParameterCombination.
- A task is `pending` for the first half of the `root_volumes.replace_seconds` setting, then
  `in-progress` for the second half, while the instance reboots (machines.MACHINES: its SSM agent is
  ConnectionLost, its load-balancer health checks fail). As it starts, the root volume is replaced:
  a new volume from the source's root snapshot, with the original's type, size, encryption and
  delete-on-termination, takes the root device; the original is detached (`available`), or deleted
  with DeleteReplacedRootVolume; and the instance's machine parts (SSM sandbox, patch inventory)
  are put back as they were when the source image was made (ImageId; the image a SnapshotId
  belongs to; the launch image), if the simulator saw it made. Then `succeeded`, with CompleteTime.
- A task marked to fail (the control endpoint, by instance or while the task is pending) reboots
  the instance all the same and ends `failed`, with the original root volume attached and nothing
  restored.
- ClientToken: a request with the token of an earlier one and the same parameters answers the
  earlier task as it is now; with other parameters, IdempotentParameterMismatch.
- DescribeReplaceRootVolumeTasks: ReplaceRootVolumeTaskIds, the `instance-id` filter, MaxResults
  (1-50) and NextToken.

A task runs on its own thread, which a reset cancels.
"""

import datetime
import threading

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError, InvalidTaggableResourceType
from moto.ec2.responses import EC2Response
from moto.moto_api._internal import mock_random

from simulator.machines import MACHINES

TASK_RESOURCE_TYPE = "replace-root-volume-task"
TERMINAL = ("succeeded", "failed")
REQUEST_KEYS = ("InstanceId", "ImageId", "SnapshotId", "DeleteReplacedRootVolume", "TagSpecifications")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Task:
    def __init__(self, account_id, region, request, duration, source_snapshot_id, restored_image_id):
        self.task_id = "replacevol-" + mock_random.get_random_hex(17)
        self.account_id = account_id
        self.region = region
        self.request = request
        self.instance_id = request["InstanceId"]
        self.duration = duration
        self.source_snapshot_id = source_snapshot_id
        self.restored_image_id = restored_image_id
        self.tags = [tag for spec in request.get("TagSpecifications") or [] for tag in spec.get("Tags") or []]
        self.state = "pending"
        self.fails = False
        self.start_time = _now()
        self.complete_time = None
        self.cancelled = threading.Event()

    def describe(self):
        described = {
            "ReplaceRootVolumeTaskId": self.task_id,
            "InstanceId": self.instance_id,
            "TaskState": self.state,
            "StartTime": self.start_time,
            "Tags": list(self.tags),
            "DeleteReplacedRootVolume": bool(self.request.get("DeleteReplacedRootVolume")),
        }
        for key in ("ImageId", "SnapshotId"):
            if self.request.get(key):
                described[key] = self.request[key]
        if self.complete_time:
            described["CompleteTime"] = self.complete_time
        return described


class Tasks:
    """Every task, the client tokens seen, the failure marks and the `root_volumes` settings."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tasks = {}
        self.reset()

    def reset(self):
        with self.lock:
            cancelled, self.tasks = list(self.tasks.values()), {}
            self.tokens = {}
            self.failing_instances = set()
            self.replace_seconds = 1.0
        for task in cancelled:
            task.cancelled.set()

    def configure(self, replace_seconds):
        if float(replace_seconds) < 0:
            raise ValueError("root_volumes replace_seconds: give a number of seconds >= 0")
        with self.lock:
            self.replace_seconds = float(replace_seconds)
        return self.describe()

    def describe(self):
        with self.lock:
            return {"replace_seconds": self.replace_seconds}

    def fail_instance(self, instance_id):
        """Tasks of the instance that have not started replacing its volume will end `failed`."""
        with self.lock:
            self.failing_instances.add(instance_id)

    def fail_task(self, task_id):
        """Make a pending task end `failed`: None if it is unknown, False if it is no longer pending."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or task.state != "pending":
                return None if task is None else False
            task.fails = True
            return True


TASKS = Tasks()


def _root_snapshot_of(image):
    return next((m["Ebs"]["SnapshotId"] for m in image.block_device_mappings
                 if m["DeviceName"] == image.root_device_name and "Ebs" in m), None)


def _source(backend, instance, request):
    """(snapshot of the replacement volume, image whose machine parts it restores)."""
    if request.get("ImageId") and request.get("SnapshotId"):
        raise EC2ClientError("InvalidParameterCombination", "ImageId and SnapshotId cannot both be specified")
    if request.get("ImageId"):
        image = backend.amis.get(request["ImageId"])
        if image is None:
            raise InvalidAMIIdError(request["ImageId"])
        return _root_snapshot_of(image), image.id
    if request.get("SnapshotId"):
        snapshot = backend.get_snapshot(request["SnapshotId"])
        return snapshot.id, snapshot.from_ami
    launch_image = backend.amis.get(instance.image_id)
    if launch_image is None:  # deregistered since: the snapshot the root volume was made from
        root_volume = backend.get_volume(instance.block_device_mapping[instance.root_device_name].volume_id)
        return root_volume.snapshot_id, instance.image_id
    return _root_snapshot_of(launch_image), instance.image_id


def create_task(backend, request, client_token):
    token_key = (backend.account_id, backend.region_name, client_token)
    with TASKS.lock:
        earlier = TASKS.tasks.get(TASKS.tokens.get(token_key)) if client_token else None
    if earlier is not None:
        if earlier.request != request:
            raise EC2ClientError("IdempotentParameterMismatch",
                                 f"Client token {client_token} was used before with other parameters.")
        return earlier
    instance = backend.get_instance(request["InstanceId"])
    if instance.state != "running":
        raise EC2ClientError("IncorrectState", f"Instance '{instance.id}' is not in the 'running' state.")
    for spec in request.get("TagSpecifications") or []:
        if spec.get("ResourceType") != TASK_RESOURCE_TYPE:
            raise InvalidTaggableResourceType(spec.get("ResourceType"))
    snapshot_id, restored_image_id = _source(backend, instance, request)
    with TASKS.lock:
        task = Task(backend.account_id, backend.region_name, request, TASKS.replace_seconds, snapshot_id, restored_image_id)
        TASKS.tasks[task.task_id] = task
        if client_token:
            TASKS.tokens[token_key] = task.task_id
    threading.Thread(target=_run, args=(backend, task), daemon=True, name=task.task_id).start()
    return task


def _run(backend, task):
    half = task.duration / 2
    try:
        if task.cancelled.wait(half):
            return
        with TASKS.lock:
            succeeds = not (task.fails or task.instance_id in TASKS.failing_instances)
            # Down before anyone sees `in-progress`, so a reader never finds the instance up meanwhile.
            MACHINES.reboot(task.instance_id, half)
            task.state = "in-progress"
        if succeeds:
            _replace_root_volume(backend, task)
            MACHINES.restore_image(task.instance_id, task.restored_image_id)
        if task.cancelled.wait(half):
            return
        with TASKS.lock:
            task.state = "succeeded" if succeeds else "failed"
    finally:
        # A simulator bug must end the task, not leave a client polling until its timeout.
        with TASKS.lock:
            if task.state not in TERMINAL:
                task.state = "failed"
            task.complete_time = _now()


def _replace_root_volume(backend, task):
    instance = backend.get_instance(task.instance_id)
    device = instance.root_device_name
    mapping = instance.block_device_mapping[device]
    original = backend.get_volume(mapping.volume_id)
    replacement = backend.create_volume(
        size=original.size, zone_name=original.zone.name, snapshot_id=task.source_snapshot_id,
        encrypted=original.encrypted, kms_key_id=original.kms_key_id, volume_type=original.volume_type,
        iops=original.iops, throughput=original.throughput)
    backend.detach_volume(original.id, instance.id, device)
    backend.attach_volume(replacement.id, instance.id, device, delete_on_termination=mapping.delete_on_termination)
    if task.request.get("DeleteReplacedRootVolume"):
        backend.delete_volume(original.id)


def describe_tasks(backend, task_ids, filters, max_results, next_token):
    """(page of tasks, next token) of the caller's account and Region, oldest first."""
    instance_ids = None
    for entry in filters or []:
        if entry["Name"] != "instance-id":
            raise EC2ClientError("InvalidParameterValue", f"The filter '{entry['Name']}' is invalid")
        instance_ids = set(entry.get("Values") or [])
    size = int(max_results or 50)
    if not 1 <= size <= 50:
        raise EC2ClientError("InvalidParameterValue", f"Value ( {size} ) for parameter maxResults is invalid. "
                                                      "Expecting a value between 1 and 50.")
    with TASKS.lock:
        selected = [
            task.describe() for task in TASKS.tasks.values()
            if (task.account_id, task.region) == (backend.account_id, backend.region_name)
            and (not task_ids or task.task_id in task_ids)
            and (instance_ids is None or task.instance_id in instance_ids)
        ]
    start = int(next_token or 0)
    following = start + size
    return selected[start:following], (str(following) if following < len(selected) else None)


def create_replace_root_volume_task(self):
    self.error_on_dryrun()
    request = {key: self._get_param(key) for key in REQUEST_KEYS if self._get_param(key) is not None}
    task = create_task(self.ec2_backend, request, self._get_param("ClientToken"))
    with TASKS.lock:
        return ActionResult({"ReplaceRootVolumeTask": task.describe()})


def describe_replace_root_volume_tasks(self):
    self.error_on_dryrun()
    tasks, token = describe_tasks(self.ec2_backend, self._get_param("ReplaceRootVolumeTaskIds"),
                                  self._get_param("Filters"), self._get_param("MaxResults"), self._get_param("NextToken"))
    return ActionResult(dict({"ReplaceRootVolumeTasks": tasks}, **({"NextToken": token} if token else {})))


def install():
    EC2Response.create_replace_root_volume_task = create_replace_root_volume_task
    EC2Response.describe_replace_root_volume_tasks = describe_replace_root_volume_tasks
