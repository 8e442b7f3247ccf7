"""Managed instances as SSM sees them, derived from the EC2 instances of the same account and Region.

- Every EC2 instance that is not terminated (or shutting down) is a managed node with a
  running agent, unless the control endpoint marked it unmanaged (no agent, no instance
  profile: SSM does not know it at all), or it is still booting after its launch
  (machines.MACHINES: its agent has not registered yet).
- PingStatus is `Online` for a running instance, `ConnectionLost` for any other state, while it
  reboots (machines.MACHINES), or when the control endpoint marked it offline (agent stopped, no
  route to the SSM endpoint).
- DescribeInstanceInformation answers with these nodes: `Filters` (InstanceIds, PingStatus,
  PlatformTypes, ResourceType, AgentVersion, `tag:<key>`, `tag-key`) and
  `InstanceInformationFilterList` (the same keys but tags), paginated with MaxResults 5-50.
"""

import datetime
import threading

from moto.ec2.models import ec2_backends
from moto.ssm.exceptions import InvalidFilterKey, ValidationException

from simulator.machines import MACHINES

AGENT_VERSION = "3.3.1142.0"
GONE_STATES = ("terminated", "shutting-down")
FILTER_KEYS = ("InstanceIds", "PingStatus", "PlatformTypes", "ResourceType", "AgentVersion", "AssociationStatus",
               "ActivationIds", "IamRole")


class Marks:
    """Instances the control endpoint took out of SSM (unmanaged) or cut off from it (offline)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.unmanaged = set()
            self.offline = set()

    def mark(self, instance_ids, unmanaged=None, offline=None):
        with self.lock:
            for flag, marked in ((unmanaged, self.unmanaged), (offline, self.offline)):
                if flag is True:
                    marked.update(instance_ids)
                elif flag is False:
                    marked.difference_update(instance_ids)

    def describe(self):
        with self.lock:
            return {"unmanaged": sorted(self.unmanaged), "offline": sorted(self.offline)}

    def is_unmanaged(self, instance_id):
        with self.lock:
            return instance_id in self.unmanaged

    def is_offline(self, instance_id):
        with self.lock:
            return instance_id in self.offline


MARKS = Marks()


def _ec2(account_id, region):
    return ec2_backends[account_id][region]


def tags_of(backend, instance_id):
    return dict(backend.tags.get(instance_id) or {})


def managed_node(backend, instance):
    """The InstanceInformation of an EC2 instance, or None when SSM does not manage it."""
    if instance.state in GONE_STATES or MARKS.is_unmanaged(instance.id) or MACHINES.booting(instance.id):
        return None
    online = instance.state == "running" and not MARKS.is_offline(instance.id) and not MACHINES.rebooting(instance.id)
    windows = (instance.platform or "").lower() == "windows"
    return {
        "InstanceId": instance.id,
        "PingStatus": "Online" if online else "ConnectionLost",
        "LastPingDateTime": datetime.datetime.now(datetime.timezone.utc),
        "AgentVersion": AGENT_VERSION,
        "IsLatestVersion": True,
        "PlatformType": "Windows" if windows else "Linux",
        "PlatformName": "Microsoft Windows Server 2022 Datacenter" if windows else "Amazon Linux",
        "PlatformVersion": "10.0.20348" if windows else "2023",
        "ResourceType": "EC2Instance",
        "IPAddress": instance.private_ip or "10.0.0.1",
        "ComputerName": "ip-%s.ec2.internal" % (instance.private_ip or "10.0.0.1").replace(".", "-"),
        "SourceId": instance.id,
        "SourceType": "AWS::EC2::Instance",
    }


def all_instances(backend):
    return [instance for reservation in backend.all_reservations() for instance in reservation.instances]


def managed_nodes(account_id, region):
    """{instance_id: InstanceInformation} of every managed node, with the instance's tags."""
    backend = _ec2(account_id, region)
    nodes = {}
    for instance in all_instances(backend):
        node = managed_node(backend, instance)
        if node is not None:
            nodes[instance.id] = (node, tags_of(backend, instance.id))
    return nodes


def live_instance(account_id, region, instance_id):
    """The EC2 instance if it exists and is not gone, else None."""
    backend = _ec2(account_id, region)
    for instance in all_instances(backend):
        if instance.id == instance_id:
            return None if instance.state in GONE_STATES else instance
    return None


def node_of(account_id, region, instance_id):
    instance = live_instance(account_id, region, instance_id)
    return None if instance is None else managed_node(_ec2(account_id, region), instance)


def _node_value(node, key):
    return {
        "InstanceIds": node["InstanceId"], "PingStatus": node["PingStatus"], "PlatformTypes": node["PlatformType"],
        "ResourceType": node["ResourceType"], "AgentVersion": node["AgentVersion"],
    }.get(key)


def _matches(node, tags, key, values):
    if key.startswith("tag:"):
        return tags.get(key[4:]) in values
    if key == "tag-key":
        return any(value in tags for value in values)
    if key not in FILTER_KEYS:
        raise InvalidFilterKey(f"The filter key {key} is not valid.")
    return _node_value(node, key) in values


def describe_instance_information(account_id, region, filters=None, filter_list=None, max_results=None, next_token=None):
    """(page of InstanceInformation, next token)."""
    if filters and filter_list:
        raise ValidationException("You can specify either Filters or InstanceInformationFilterList, not both.")
    if max_results is not None and not 5 <= int(max_results) <= 50:
        raise ValidationException(f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
                                  "constraint: Member must have value between 5 and 50")
    conditions = [(f["Key"], f.get("Values") or []) for f in filters or []]
    for entry in filter_list or []:
        if entry["key"].startswith("tag"):
            raise InvalidFilterKey(f"The filter key {entry['key']} is not valid for InstanceInformationFilterList.")
        conditions.append((entry["key"], entry.get("valueSet") or []))
    nodes = managed_nodes(account_id, region)
    selected = [
        node for node, tags in (nodes[instance_id] for instance_id in sorted(nodes))
        if all(_matches(node, tags, key, values) for key, values in conditions)
    ]
    start = int(next_token or 0)
    size = int(max_results or 50)
    page = selected[start:start + size]
    following = start + size
    return page, (str(following) if following < len(selected) else None)
