# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for ELBv2 target groups: where instances are registered, taking them out of service
(deregister, then wait until draining ends) and putting them back (register, then wait until
healthy). One DescribeTargetHealth per target group a round, never one per instance. And the ARNs
of target groups named by name.
"""

import collections
import time

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import tolerating
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_delay

# A registration: the target group and the port the instance is registered on.
Registration = collections.namedtuple("Registration", "target_group_arn port")

# States in which a target takes traffic or is about to: what "in service" means for minimums.
IN_SERVICE = ("healthy", "initial")


def _instance_groups(elbv2):
    """The ARNs of the target groups whose targets are instances."""
    groups = all_pages(elbv2.describe_target_groups, "TargetGroups", token_key="NextMarker", request_token_key="Marker")
    return [group["TargetGroupArn"] for group in groups if group.get("TargetType", "instance") == "instance"]


def _health(elbv2, group_arn, registrations=None):
    params = {"TargetGroupArn": group_arn}
    if registrations:
        params["Targets"] = [{"Id": instance_id, "Port": port} for instance_id, port in registrations]
    return elbv2.describe_target_health(aws_retry=True, **params)["TargetHealthDescriptions"]


def find_registrations(elbv2, instance_ids):
    """({instance_id: [Registration]}, {group arn: healthy targets}) for the groups the instances are in."""
    wanted = set(instance_ids)
    registrations = collections.defaultdict(list)
    healthy = {}
    for group_arn in _instance_groups(elbv2):
        descriptions = _health(elbv2, group_arn)
        members = [d for d in descriptions if d["Target"]["Id"] in wanted]
        if not members:
            continue
        healthy[group_arn] = sum(1 for d in descriptions if d["TargetHealth"]["State"] in IN_SERVICE)
        for description in members:
            registrations[description["Target"]["Id"]].append(Registration(group_arn, description["Target"].get("Port")))
    return dict(registrations), healthy


def _by_group(registrations):
    """{group arn: [(instance_id, port)]} from {instance_id: [Registration]}."""
    grouped = collections.defaultdict(list)
    for instance_id, entries in sorted(registrations.items()):
        for entry in entries:
            grouped[entry.target_group_arn].append((instance_id, entry.port))
    return grouped


def _targets(pairs):
    return [dict({"Id": instance_id}, **({"Port": port} if port else {})) for instance_id, port in pairs]


def deregister(elbv2, registrations):
    for group_arn, pairs in sorted(_by_group(registrations).items()):
        elbv2.deregister_targets(aws_retry=True, TargetGroupArn=group_arn, Targets=_targets(pairs))


def register(elbv2, registrations):
    for group_arn, pairs in sorted(_by_group(registrations).items()):
        elbv2.register_targets(aws_retry=True, TargetGroupArn=group_arn, Targets=_targets(pairs))


def _states(elbv2, registrations):
    """{(instance_id, group arn): state}; a target no longer listed reads as None (deregistered)."""
    states = {}
    for group_arn, pairs in sorted(_by_group(registrations).items()):
        seen = {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in _health(elbv2, group_arn, pairs)}
        for instance_id, _port in pairs:
            states[(instance_id, group_arn)] = seen.get(instance_id)
    return states


def wait_for_states(elbv2, registrations, done, timeout, sleep=time.sleep, clock=time.monotonic):
    """{(instance_id, group arn): last state} once `done(state)` holds for every one or time is up."""
    deadline = clock() + timeout
    round_number = 0
    while True:
        states = _states(elbv2, registrations)
        remaining = deadline - clock()
        if all(done(state) for state in states.values()) or remaining <= 0:
            return states
        sleep(min(poll_delay(round_number), remaining))
        round_number += 1


def drained(state):
    """Deregistered targets are `draining` until the deregistration delay ends, then unlisted or `unused`."""
    return state in (None, "unused")


def healthy(state):
    return state == "healthy"


def group_health(elbv2, group_arn):
    """[(target id, state, reason code or None)] of every target registered in the group, in one DescribeTargetHealth."""
    return [(d["Target"]["Id"], d["TargetHealth"]["State"], d["TargetHealth"].get("Reason")) for d in _health(elbv2, group_arn)]


def not_instance_groups(elbv2, group_arns):
    """Those of `group_arns` that are not target groups of instances here: unknown, or of IP addresses or Lambda functions."""
    known = set(_instance_groups(elbv2))
    return [arn for arn in group_arns if arn not in known]


def _arns_named(elbv2, names):
    groups = elbv2.describe_target_groups(aws_retry=True, Names=list(names))["TargetGroups"]
    return {group["TargetGroupName"]: group["TargetGroupArn"] for group in groups}


def arns_by_name(elbv2, names):
    """{name: ARN} of the named target groups that exist, in one DescribeTargetGroups.

    TargetGroupNotFound says only that one name or more is unknown: then each name is asked alone,
    so the caller can tell which.
    """
    if not names:
        return {}
    with tolerating(["TargetGroupNotFound"]):
        return _arns_named(elbv2, names)
    found = {}
    if len(names) > 1:
        for name in names:
            with tolerating(["TargetGroupNotFound"]):
                found.update(_arns_named(elbv2, [name]))
    return found
