# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Tags that remember, on an instance, the target groups patch_rollout took it out of.

A run killed between deregistering a wave and registering it again leaves the wave out of service,
and its report dies with it. Tags are the collection's only state (docs/tags.md): each instance is
tagged with its registrations before it is deregistered, and untagged once it is back and healthy.
The next run reads the tags, and puts back what passes its health check; an instance that failed
keeps them until a run finds it healthy.
"""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import Registration

# One tag per registration, numbered: a target group ARN is too long for a tag key.
MARK_PREFIX = "cloudops:out-of-service:"


def marks_of(registrations):
    """{tag key: "<target group arn> <port>"} for an instance's registrations."""
    return {"%s%d" % (MARK_PREFIX, number): "%s %s" % (entry.target_group_arn, entry.port or "")
            for number, entry in enumerate(registrations, 1)}


def registrations_from_tags(tags):
    """The registrations an instance's marks remember; empty when it carries none."""
    found = {}
    for key, value in tags.items():
        number = key[len(MARK_PREFIX):]
        if key.startswith(MARK_PREFIX) and number.isdigit():
            group_arn, _space, port = value.partition(" ")
            found[int(number)] = Registration(group_arn, int(port) if port.strip().isdigit() else None)
    return [found[number] for number in sorted(found)]


def _by_tag_set(marks_by_instance):
    """[(tags, instance ids)]: one CreateTags or DeleteTags per distinct set, not one per instance."""
    grouped = {}
    for instance_id, marks in sorted(marks_by_instance.items()):
        grouped.setdefault(tuple(sorted(marks.items())), []).append(instance_id)
    return [(dict(tags), instance_ids) for tags, instance_ids in sorted(grouped.items())]


def mark_out_of_service(ec2, registrations):
    for tags, instance_ids in _by_tag_set({i: marks_of(regs) for i, regs in registrations.items()}):
        ec2.create_tags(aws_retry=True, Resources=instance_ids, Tags=ansible_dict_to_boto3_tag_list(tags))


def clear_marks(ec2, registrations):
    for tags, instance_ids in _by_tag_set({i: marks_of(regs) for i, regs in registrations.items()}):
        ec2.delete_tags(aws_retry=True, Resources=instance_ids, Tags=[{"Key": key} for key in tags])
