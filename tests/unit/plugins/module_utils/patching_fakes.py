"""An in-memory account for patch_rollout's unit tests: EC2, SSM (Run Command and Patch Manager) and ELBv2.

One object answers as every client, over dicts the tests read back. Commands run when they are
sent, so a poll finds them finished; what an instance does is scripted per instance:
- `install_fails`: the install fails (exit 1), its patches end Failed, no reboot;
- `install_breaks`: the install succeeds and breaks the instance (its health command fails after);
- `not_back`: the agent stays ConnectionLost after the install's reboot;
- `scan_fails`: scans fail;
- `killed_after_install`: the run dies (an exception) once the install is done, as when it is killed.
An AMI captures an instance's patches and whether it is broken; a root volume from it restores both.
"""

import datetime
import itertools

NOW = datetime.datetime(2026, 11, 30, 4, 0, tzinfo=datetime.timezone.utc)


def instance_id(number):
    return "i-%017x" % number


def tag_list(tags):
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tags_of(resource):
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def matches(tags, values, filters):
    """Whether a resource with these tags and other filterable values passes EC2-style filters."""
    for item in filters or []:
        name, wanted = item["Name"], item["Values"]
        if name == "tag-key":
            if not set(tags) & set(wanted):
                return False
            continue
        value = tags.get(name[4:]) if name.startswith("tag:") else values.get(name)
        if value not in wanted:
            return False
    return True


class FakeAws:
    def __init__(self):
        self.instances = {}       # id: {"state", "tags"}
        self.unmanaged, self.offline = set(), set()
        self.patches = {}         # id: {"missing", "installed", "failed", "pending_reboot"}, the machine's own state
        self.reported = {}        # id: InstancePatchState, SSM's record of the last operation
        self.broken = set()
        self.install_fails, self.install_breaks, self.not_back, self.scan_fails = set(), set(), set(), set()
        self.killed_after_install = False
        self.groups = {}          # arn: {id: state}
        self.images = {}          # ami id: {"instance_id", "tags", "created", "patches", "broken"}
        self.tasks = {}           # task id: {"instance_id", "image_id", "describes"}
        self.invocations = {}     # command id: [CommandInvocation]
        self.sent = []            # SendCommand requests
        self.events = []          # (action, instance id) in the order they happened
        self.left_in_service = []  # (group arn, targets still registered) after each DeregisterTargets
        self.ids = itertools.count(1)

    # -- seeding -------------------------------------------------------------------------------

    def add_instances(self, count, missing=3, state="running", tags=None):
        ids = []
        while len(ids) < count:
            new_id = instance_id(next(self.ids))
            self.instances[new_id] = {"state": state, "tags": dict({"Name": "web-%d" % len(self.instances)}, **(tags or {}))}
            self.patches[new_id] = {"missing": missing, "installed": 10, "failed": 0, "pending_reboot": 0}
            ids.append(new_id)
        return ids

    def add_group(self, name, instance_ids):
        arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s/0123456789abcdef" % name
        self.groups[arn] = {i: "healthy" for i in instance_ids}
        return arn

    # -- EC2 -----------------------------------------------------------------------------------

    def describe_instances(self, aws_retry, InstanceIds=None, Filters=None, MaxResults=None):
        assert not (InstanceIds and MaxResults), "EC2 refuses MaxResults with InstanceIds"
        chosen = [i for i, instance in sorted(self.instances.items())
                  if (not InstanceIds or i in InstanceIds)
                  and matches(instance["tags"], {"instance-id": i, "instance-state-name": instance["state"]}, Filters)]
        return {"Reservations": [{"Instances": [{"InstanceId": i, "State": {"Name": self.instances[i]["state"]},
                                                 "Tags": tag_list(self.instances[i]["tags"])} for i in chosen]}]}

    def create_tags(self, aws_retry, Resources, Tags):
        for i in Resources:
            self.instances[i]["tags"].update(tags_of({"Tags": Tags}))

    def delete_tags(self, aws_retry, Resources, Tags):
        for i in Resources:
            for tag in Tags:
                self.instances[i]["tags"].pop(tag["Key"], None)

    def start_instances(self, aws_retry, InstanceIds):
        for i in InstanceIds:
            self.instances[i]["state"] = "running"
            self.events.append(("start", i))

    def stop_instances(self, aws_retry, InstanceIds):
        for i in InstanceIds:
            self.instances[i]["state"] = "stopped"
            self.events.append(("stop", i))

    def create_image(self, aws_retry, InstanceId, Name, Description, NoReboot, TagSpecifications):
        image_id = "ami-%08x" % next(self.ids)
        self.images[image_id] = {"instance_id": InstanceId, "name": Name, "tags": tags_of(TagSpecifications[0]), "created": NOW,
                                 "patches": dict(self.patches[InstanceId]), "broken": InstanceId in self.broken}
        self.events.append(("image", InstanceId))
        return {"ImageId": image_id}

    def describe_images(self, aws_retry, Owners, Filters):
        return {"Images": [{"ImageId": image_id, "Name": image["name"], "State": "available", "CreationDate": image["created"].isoformat(),
                            "Tags": tag_list(image["tags"])}
                           for image_id, image in sorted(self.images.items()) if matches(image["tags"], {"image-id": image_id}, Filters)]}

    def describe_snapshots(self, aws_retry, OwnerIds, Filters):
        return {"Snapshots": []}

    def create_replace_root_volume_task(self, aws_retry, InstanceId, ImageId, DeleteReplacedRootVolume, ClientToken):
        task_id = "replacevol-%08x" % next(self.ids)
        self.tasks[task_id] = {"instance_id": InstanceId, "image_id": ImageId, "describes": 0}
        return {"ReplaceRootVolumeTask": {"ReplaceRootVolumeTaskId": task_id, "InstanceId": InstanceId, "TaskState": "pending"}}

    def describe_replace_root_volume_tasks(self, aws_retry, ReplaceRootVolumeTaskIds):
        answer = []
        for task_id in ReplaceRootVolumeTaskIds:
            task = self.tasks[task_id]
            task["describes"] += 1
            # In progress at the first look, done at the second: the image's state is back then.
            if task["describes"] == 2:
                image = self.images[task["image_id"]]
                self.patches[task["instance_id"]] = dict(image["patches"])
                (self.broken.add if image["broken"] else self.broken.discard)(task["instance_id"])
                self.offline.discard(task["instance_id"])
                self.events.append(("rollback", task["instance_id"]))
            answer.append({"ReplaceRootVolumeTaskId": task_id, "InstanceId": task["instance_id"], "ImageId": task["image_id"],
                           "TaskState": "in-progress" if task["describes"] < 2 else "succeeded"})
        return {"ReplaceRootVolumeTasks": answer}

    # -- SSM -----------------------------------------------------------------------------------

    def describe_instance_information(self, aws_retry, Filters, MaxResults):
        wanted = Filters[0]["Values"]
        nodes = []
        for i in wanted:
            instance = self.instances.get(i)
            if instance and i not in self.unmanaged:
                online = instance["state"] == "running" and i not in self.offline
                nodes.append({"InstanceId": i, "PingStatus": "Online" if online else "ConnectionLost"})
        return {"InstanceInformationList": nodes}

    def send_command(self, **request):
        command_id = "cmd-%d" % len(self.sent)
        self.sent.append(request)
        self.invocations[command_id] = [self._invoke(command_id, i, request) for i in request["InstanceIds"]]
        if self.killed_after_install and request["Parameters"].get("Operation") == ["Install"]:
            raise KeyboardInterrupt("killed")
        return {"Command": {"CommandId": command_id}}

    def _invoke(self, command_id, i, request):
        parameters = request["Parameters"]
        failed = False
        if request["DocumentName"] == "AWS-RunShellScript":
            failed = i in self.broken
            self.events.append(("health", i))
        elif parameters["Operation"] == ["Scan"]:
            failed = i in self.scan_fails
            if not failed:
                self._report(i, "Scan")
        else:
            failed = self._install(i, parameters["RebootOption"][0])
        return {"CommandId": command_id, "InstanceId": i, "Status": "Failed" if failed else "Success",
                "StatusDetails": "Failed" if failed else "Success",
                "CommandPlugins": [{"ResponseCode": 1 if failed else 0, "Output": "failed\n----------ERROR-------\nexit status 1" if failed else "ok"}]}

    def _install(self, i, reboot_option):
        self.events.append(("install", i))
        patches = self.patches[i]
        if i in self.install_fails:
            patches["failed"], patches["missing"] = patches["failed"] + patches["missing"], 0
            self._report(i, "Install")
            return True
        if i in self.install_breaks:
            self.broken.add(i)
        patches["pending_reboot"] += patches["missing"] + patches["failed"]
        patches["missing"] = patches["failed"] = 0
        if reboot_option == "RebootIfNeeded" and patches["pending_reboot"]:
            patches["installed"], patches["pending_reboot"] = patches["installed"] + patches["pending_reboot"], 0
            self.events.append(("reboot", i))
            if i in self.not_back:
                self.offline.add(i)
        self._report(i, "Install")
        return False

    def _report(self, i, operation):
        patches = self.patches[i]
        self.reported[i] = {"InstanceId": i, "PatchGroup": "", "BaselineId": "pb-0123456789abcdef0", "Operation": operation,
                            "OperationEndTime": NOW, "InstalledCount": patches["installed"], "MissingCount": patches["missing"],
                            "FailedCount": patches["failed"], "InstalledPendingRebootCount": patches["pending_reboot"]}

    def list_command_invocations(self, aws_retry, CommandId, Details, MaxResults):
        return {"CommandInvocations": self.invocations[CommandId]}

    def describe_instance_patch_states(self, aws_retry, InstanceIds, MaxResults):
        return {"InstancePatchStates": [self.reported[i] for i in InstanceIds if i in self.reported]}

    # -- ELBv2 ---------------------------------------------------------------------------------

    def describe_target_groups(self, aws_retry):
        return {"TargetGroups": [{"TargetGroupArn": arn, "TargetType": "instance"} for arn in sorted(self.groups)]}

    def describe_target_health(self, aws_retry, TargetGroupArn, Targets=None):
        members = self.groups[TargetGroupArn]
        wanted = {t["Id"] for t in Targets} if Targets else set(members)
        return {"TargetHealthDescriptions": [{"Target": {"Id": i, "Port": 80}, "TargetHealth": {"State": state}}
                                             for i, state in sorted(members.items()) if i in wanted]}

    def deregister_targets(self, aws_retry, TargetGroupArn, Targets):
        # As on AWS, deregistering a target that is not registered succeeds and changes nothing.
        for target in Targets:
            if self.groups[TargetGroupArn].pop(target["Id"], None):
                self.events.append(("deregister", target["Id"]))
        self.left_in_service.append((TargetGroupArn, len(self.groups[TargetGroupArn])))

    def register_targets(self, aws_retry, TargetGroupArn, Targets):
        for target in Targets:
            self.groups[TargetGroupArn][target["Id"]] = "unhealthy" if target["Id"] in self.broken else "healthy"
            self.events.append(("register", target["Id"]))

    # -- reading back --------------------------------------------------------------------------

    def order_of(self, action):
        return [i for done, i in self.events if done == action]
