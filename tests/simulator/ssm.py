"""SSM Run Command and managed instances, patched into moto's SSM responses.

moto 5.2.5 answers SendCommand with a command that succeeded at once and has no
ListCommandInvocations, DescribeInstanceInformation nor patch states. These handlers replace or
add those actions; they go through moto's dispatcher, so the call log, faults and latency apply
to them as to every other call. The behaviour lives in ssm_commands, ssm_instances and patching.
"""

from moto.core.responses import ActionResult, EmptyResult
from moto.ssm.responses import SimpleSystemManagerResponse

from simulator import patching, ssm_commands, ssm_instances

REQUEST_KEYS = (
    "DocumentName", "DocumentVersion", "InstanceIds", "Targets", "Parameters", "Comment", "TimeoutSeconds",
    "MaxConcurrency", "MaxErrors", "OutputS3BucketName", "OutputS3KeyPrefix", "OutputS3Region", "ServiceRoleArn",
    "NotificationConfig", "CloudWatchOutputConfig",
)


def _listing(key, items, token):
    return ActionResult(dict({key: items}, **({"NextToken": token} if token else {})))


def _document_exists(response):
    def exists(name):
        return name in getattr(response.ssm_backend, "_documents", {})
    return exists


def send_command(self):
    request = {key: self._get_param(key) for key in REQUEST_KEYS if self._get_param(key) is not None}
    command = ssm_commands.send_command(self.current_account, self.region, request, _document_exists(self))
    return ActionResult({"Command": command.describe()})


def list_commands(self):
    commands, token = ssm_commands.list_commands(
        (self.current_account, self.region), self._get_param("CommandId"), self._get_param("InstanceId"), self._get_param("MaxResults"),
        self._get_param("NextToken"))
    return _listing("Commands", commands, token)


def list_command_invocations(self):
    invocations, token = ssm_commands.list_command_invocations(
        (self.current_account, self.region), self._get_param("CommandId"), self._get_param("InstanceId"), bool(self._get_param("Details")),
        self._get_param("MaxResults"), self._get_param("NextToken"))
    return _listing("CommandInvocations", invocations, token)


def get_command_invocation(self):
    return ActionResult(ssm_commands.get_command_invocation(
        (self.current_account, self.region), self._get_param("CommandId"), self._get_param("InstanceId"), self._get_param("PluginName")))


def cancel_command(self):
    ssm_commands.cancel_command((self.current_account, self.region), self._get_param("CommandId"), self._get_param("InstanceIds"))
    return EmptyResult()


def describe_instance_information(self):
    nodes, token = ssm_instances.describe_instance_information(
        self.current_account, self.region, self._get_param("Filters"), self._get_param("InstanceInformationFilterList"),
        self._get_param("MaxResults"), self._get_param("NextToken"))
    return _listing("InstanceInformationList", nodes, token)


def describe_instance_patch_states(self):
    states, token = patching.describe_instance_patch_states(
        self.current_account, self.region, self._get_param("InstanceIds"), self._get_param("MaxResults"),
        self._get_param("NextToken"))
    return _listing("InstancePatchStates", states, token)


def describe_instance_patch_states_for_patch_group(self):
    states, token = patching.describe_instance_patch_states_for_patch_group(
        self.current_account, self.region, self._get_param("PatchGroup"), self._get_param("Filters"),
        self._get_param("MaxResults"), self._get_param("NextToken"))
    return _listing("InstancePatchStates", states, token)


def describe_instance_patches(self):
    patches, token = patching.describe_instance_patches(
        self.current_account, self.region, self._get_param("InstanceId"), self._get_param("Filters"),
        self._get_param("MaxResults"), self._get_param("NextToken"))
    return _listing("Patches", patches, token)


def get_deployable_patch_snapshot_for_instance(self):
    return ActionResult(patching.get_deployable_patch_snapshot_for_instance(
        self.current_account, self.region, self._get_param("InstanceId"), self._get_param("SnapshotId")))


def install():
    for handler in (send_command, list_commands, list_command_invocations, get_command_invocation, cancel_command,
                    describe_instance_information, describe_instance_patch_states,
                    describe_instance_patch_states_for_patch_group, describe_instance_patches,
                    get_deployable_patch_snapshot_for_instance):
        setattr(SimpleSystemManagerResponse, handler.__name__, handler)
    patching.install()


def reset():
    ssm_commands.ENGINE.reset()
    patching.PATCHING.reset()


def mark_instances(body):
    """The control endpoint's /_sim/ssm/instances: mark ids unmanaged or offline (or back)."""
    instance_ids = body.get("instance_ids")
    if not isinstance(instance_ids, list) or not instance_ids:
        raise ValueError("give instance_ids, a non-empty list")
    for key in ("unmanaged", "offline"):
        if key in body and body[key] not in (True, False, None):
            raise ValueError(f"{key} must be true, false or null")
    ssm_instances.MARKS.mark(instance_ids, unmanaged=body.get("unmanaged"), offline=body.get("offline"))
    return ssm_instances.MARKS.describe()


def describe_commands():
    """What the control endpoint shows of every command: peaks of concurrency, the sandbox root."""
    return {
        "sandbox_root": ssm_commands.ENGINE.root,
        "commands": [
            {"command_id": c.command_id, "peak_in_flight": c.peak_in_flight, "error_count": c.error_count,
             "target_count": c.target_count}
            for c in ssm_commands.ENGINE.all()
        ],
    }
