"""Reading the simulated AWS state the way an operator would check it, for assertions."""

MANAGED = {"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}
MUTATING_PREFIXES = ("Create", "Delete", "Deregister", "Register", "Copy", "Modify", "Run", "Terminate", "Send", "Start", "Stop")


def tags_of(resource):
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def own_images(ec2, *filters):
    return ec2.describe_images(Owners=["self"], Filters=list(filters))["Images"]


def managed_images(ec2, policy=None, instance_id=None):
    filters = [MANAGED]
    if policy:
        filters.append({"Name": "tag:cloudops:policy", "Values": [policy]})
    if instance_id:
        filters.append({"Name": "tag:cloudops:source-instance", "Values": [instance_id]})
    return own_images(ec2, *filters)


def images_by_instance(ec2, policy):
    grouped = {}
    for image in managed_images(ec2, policy):
        grouped.setdefault(tags_of(image)["cloudops:source-instance"], []).append(image)
    return grouped


def snapshot_ids_of(image):
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]


def existing_snapshot_ids(ec2):
    return {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def mutating_calls(sim):
    return [call for call in sim.calls() if call["action"].startswith(MUTATING_PREFIXES)]
