# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which instances SSM can run a command on: managed nodes and their ping status.

SendCommand refuses a whole call when one instance id is not a managed node, and a node whose
agent is offline holds its invocation until the delivery timeout. So the module looks first,
with one DescribeInstanceInformation per page (50 ids a call), and a DescribeInstances for
instances selected by tag that SSM does not know at all.
"""

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks

ONLINE = "Online"
# DescribeInstanceInformation's MaxResults is at most 50; its InstanceIds filter takes that many.
PAGE_SIZE = 50
GONE_STATES = ("shutting-down", "terminated")


def summarize_node(node):
    return {
        "instance_id": node["InstanceId"],
        "ping_status": node.get("PingStatus", ""),
        "platform_type": node.get("PlatformType", ""),
        "platform_name": node.get("PlatformName", ""),
        "agent_version": node.get("AgentVersion", ""),
    }


def describe_nodes(ssm, filters):
    nodes = all_pages(ssm.describe_instance_information, "InstanceInformationList", Filters=filters, MaxResults=PAGE_SIZE)
    return {node["InstanceId"]: summarize_node(node) for node in nodes}


def nodes_by_id(ssm, instance_ids):
    """{instance_id: node} for the ids SSM manages; an id it does not know is absent."""
    nodes = {}
    for chunk in chunks(instance_ids, PAGE_SIZE):
        nodes.update(describe_nodes(ssm, [{"Key": "InstanceIds", "Values": chunk}]))
    return nodes


def target_filters(targets):
    """(DescribeInstanceInformation filters, DescribeInstances filters) selecting what the SendCommand `targets`
    select, or None when a target is neither a tag nor instance ids (a resource group, which only SSM resolves)."""
    translated = []  # (SSM filter key, EC2 filter name, values)
    for target in targets:
        key = target["Key"]
        if key.startswith("tag:") or key == "tag-key":
            translated.append((key, key, target["Values"]))
        elif key == "InstanceIds":
            translated.append((key, "instance-id", target["Values"]))
        else:
            return None
    ssm_filters = [{"Key": ssm_key, "Values": values} for ssm_key, ec2_name, values in translated]
    ec2_filters = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    ec2_filters += [{"Name": ec2_name, "Values": values} for ssm_key, ec2_name, values in translated]
    return ssm_filters, ec2_filters


class Selection:
    """The instances a run selects through `option`: online (will run), offline and unmanaged (will not)."""

    def __init__(self, option, online, offline, unmanaged, resolvable=True):
        self.option = option
        self.online = sorted(online)
        self.offline = sorted(offline)
        self.unmanaged = sorted(unmanaged)
        self.resolvable = resolvable

    def not_ready(self):
        """[{instance_id, reason}] for every selected instance SSM cannot run the command on now."""
        return sorted(
            [{"instance_id": i, "reason": "not managed by SSM (no such instance, or no agent registered for it)"} for i in self.unmanaged]
            + [{"instance_id": i, "reason": "SSM agent offline (PingStatus %s)" % status} for i, status in self.offline],
            key=lambda item: item["instance_id"],
        )

    @property
    def offline_ids(self):
        return [instance_id for instance_id, _status in self.offline]


def select_by_ids(ssm, instance_ids):
    nodes = nodes_by_id(ssm, instance_ids)
    online = [i for i in instance_ids if i in nodes and nodes[i]["ping_status"] == ONLINE]
    offline = [(i, nodes[i]["ping_status"]) for i in instance_ids if i in nodes and nodes[i]["ping_status"] != ONLINE]
    unmanaged = [i for i in instance_ids if i not in nodes]
    return Selection("instance_ids", online, offline, unmanaged)


def select_by_targets(ssm, ec2, targets):
    """What SendCommand Targets would reach; resource group targets are resolved by SSM only.

    Targets resolve to the managed nodes that match, so SSM passes over an id in an InstanceIds target that
    it does not manage, without an error. That id was named to run the command, as with instance_ids, so it
    counts as unmanaged: the run is refused, or it is skipped and reported (skip_unmanaged).
    """
    named = [i for target in targets if target["Key"] == "InstanceIds" for i in target["Values"]]
    known = nodes_by_id(ssm, named) if named else {}
    unknown = {i for i in named if i not in known}
    filters = target_filters(targets)
    if filters is None:
        return Selection("targets", [], [], unknown, resolvable=False)
    ssm_filters, ec2_filters = filters
    nodes = describe_nodes(ssm, ssm_filters)
    reservations = all_pages(ec2.describe_instances, "Reservations", Filters=ec2_filters)
    instance_ids = {i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] not in GONE_STATES}
    online = [i for i, node in nodes.items() if node["ping_status"] == ONLINE]
    offline = [(i, node["ping_status"]) for i, node in nodes.items() if node["ping_status"] != ONLINE]
    unmanaged = {i for i in instance_ids if i not in nodes} | unknown
    return Selection("targets", online, offline, unmanaged)
