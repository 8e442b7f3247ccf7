# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The tag scheme that makes tags the only state (see docs/tags.md).

Every resource the collection creates carries these tags; a later run finds its
generations, their lineage and their age from them alone, so a crashed run is repaired
by the next one without any local state.
"""

import datetime

MANAGED_BY_KEY = "cloudops:managed-by"
MANAGED_BY_VALUE = "cloudops.aws"
POLICY_KEY = "cloudops:policy"
SOURCE_INSTANCE_KEY = "cloudops:source-instance"
SOURCE_VOLUME_KEY = "cloudops:source-volume"
SOURCE_SNAPSHOT_KEY = "cloudops:source-snapshot"
SOURCE_REGION_KEY = "cloudops:source-region"
RESERVED_PREFIX = "cloudops:"
CREATED_AT_KEY = "cloudops:created-at"
# Set by restore drills on the image or snapshot they restored (keep_verified reads them).
VERIFIED_AT_KEY = "cloudops:verified-at"
VERIFY_RESULT_KEY = "cloudops:verify-result"
VERIFY_PASSED = "passed"
# On the throwaway instances and volumes of a restore drill: its run, when a later run may remove
# them, and the backup they restore.
DRILL_RUN_KEY = "cloudops:drill-run"
DRILL_EXPIRES_KEY = "cloudops:drill-expires-at"
DRILL_OF_KEY = "cloudops:drill-of"
# On backups taken by the backup roles with pre-backup commands: application or crash.
CONSISTENCY_KEY = "cloudops:consistency"
CONSISTENCY_VALUES = ("application", "crash")

# Compact, sortable and valid in AMI names (no colons).
NAME_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def format_created_at(moment):
    """ISO-8601 UTC with a Z suffix, second precision: the value of cloudops:created-at."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_aws_time(value):
    """Parse a cloudops:created-at tag or an AWS timestamp (CreationDate, StartTime) to aware UTC."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def ownership_tags(policy, created_at, **lineage):
    """The tags every created resource carries; lineage maps tag suffixes to ids.

    ownership_tags("daily", now, source_instance="i-1") adds cloudops:source-instance=i-1.
    """
    tags = {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        POLICY_KEY: policy,
        CREATED_AT_KEY: format_created_at(created_at),
    }
    for suffix, value in lineage.items():
        tags["cloudops:" + suffix.replace("_", "-")] = value
    return tags


def is_managed(tags):
    """Only resources carrying this tag may ever be deleted (docs/architecture.md, safety rule 1)."""
    return tags.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE


def managed_policy_filters(policy):
    """DescribeImages/DescribeSnapshots filters selecting one policy's managed resources."""
    return [
        {"Name": "tag:" + MANAGED_BY_KEY, "Values": [MANAGED_BY_VALUE]},
        {"Name": "tag:" + POLICY_KEY, "Values": [policy]},
    ]


def created_at_of(tags, fallback):
    """The backup time: the tag when present (copies keep their source's time), else AWS's own time."""
    value = tags.get(CREATED_AT_KEY)
    if value:
        try:
            return parse_aws_time(value)
        except ValueError:
            pass  # a hand-edited tag must not break rotation; AWS's time is the next best truth
    return parse_aws_time(fallback)


def verified_at_of(tags):
    """When a restore drill of this backup passed (the cloudops:verified-at value), or None if none did."""
    if tags.get(VERIFY_RESULT_KEY) != VERIFY_PASSED:
        return None
    return tags.get(VERIFIED_AT_KEY, "")


def consistency_by_instance(value):
    """The `consistency` option checked: {instance id: application or crash}; ValueError names the bad entry."""
    checked = {}
    for instance_id, consistency in sorted((value or {}).items()):
        if not str(instance_id).startswith("i-"):
            raise ValueError("consistency: %r is not an instance id" % (instance_id,))
        if consistency not in CONSISTENCY_VALUES:
            raise ValueError("consistency: %s must be %s, got %r" % (instance_id, " or ".join(CONSISTENCY_VALUES), consistency))
        checked[str(instance_id)] = consistency
    return checked


def consistency_tags(consistency, instance_id):
    """The cloudops:consistency tag of a new backup of `instance_id`, when the run was told it."""
    value = consistency.get(instance_id) if instance_id else None
    return {CONSISTENCY_KEY: value} if value else {}
