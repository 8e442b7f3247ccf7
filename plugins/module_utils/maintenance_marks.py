# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The maintenance mark: an instance in a patch or deploy run of this collection is tagged, so that
instance_schedule does not stop or start it meanwhile (docs/tags.md).

The tag `cloudops:maintenance` holds "<until> <run>": an ISO 8601 UTC instant and the module that set it
("2026-11-30T12:00:00Z patch_rollout"). A run marks the instances it is about to work on, marks them again
with a later instant before a wave or batch once an hour has passed since, and removes its mark when it
ends, however it ends. A run
that is killed leaves its mark, which stops counting at its instant: a crash never pins an instance for
longer than TTL. The mark is removed by value, so a run never removes another run's mark.

Marking is a courtesy to the schedule, not part of the run's work: a run whose role may not write the tag
(a policy written before the mark existed) goes on, with a warning.
"""

import datetime
from dataclasses import dataclass

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks

MAINTENANCE_TAG = "cloudops:maintenance"
# Longer than any one wave or batch takes with the default timeouts (a command, a reboot, draining, health).
TTL = datetime.timedelta(hours=6)
# How old a mark gets before a new wave or batch renews it.
RENEW_AFTER = datetime.timedelta(hours=1)
UTC = datetime.timezone.utc


@dataclass(frozen=True)
class Mark:
    until: datetime.datetime
    owner: str

    @property
    def value(self):
        return "%s %s" % (self.until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), self.owner)

    @classmethod
    def parse(cls, value):
        """The Mark of a tag value; None when it is not one (a hand-written value holds no instance)."""
        until, _space, owner = str(value or "").strip().partition(" ")
        try:
            moment = datetime.datetime.fromisoformat(until[:-1] + "+00:00" if until.endswith("Z") else until)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
        return cls(moment.astimezone(UTC), owner.strip() or "an unnamed run")


def active_mark(tags, now):
    """The Mark on an instance's tags that still holds at `now`; None when there is none, or it has expired."""
    mark = Mark.parse(tags.get(MAINTENANCE_TAG)) if MAINTENANCE_TAG in tags else None
    return mark if mark is not None and mark.until > now else None


def _now():
    return datetime.datetime.now(UTC)


class MaintenanceMarks:
    """The marks one run sets on the instances it works on; `warnings` collects the tagging errors."""

    def __init__(self, ec2, owner, clock=_now, ttl=TTL):
        self.ec2 = ec2
        self.owner = owner
        self.clock = clock
        self.ttl = ttl
        self.instance_ids = []
        self.value = None
        self.marked_at = None
        self.refused = False
        self.tagged = False
        self.warnings = []

    def _tag(self, instance_ids, now=None):
        self.marked_at = now or self.clock()
        self.value = Mark(self.marked_at + self.ttl, self.owner).value
        tags = ansible_dict_to_boto3_tag_list({MAINTENANCE_TAG: self.value})
        try:
            for chunk in chunks(instance_ids):
                self.ec2.create_tags(aws_retry=True, Resources=chunk, Tags=tags)
                self.tagged = True
        except ClientError as error:
            # No more tries this run: the same policy would refuse every one.
            self.refused = True
            self.warnings.append("could not tag the instances %s (%s): cloudops.aws.instance_schedule may start or stop them "
                                 "during this run; allow ec2:CreateTags and ec2:DeleteTags of that tag key"
                                 % (MAINTENANCE_TAG, error_text(error)))

    def mark(self, instance_ids):
        """Mark these instances too (and the marked ones again, so all carry one value)."""
        added = [i for i in instance_ids if i not in self.instance_ids]
        if added and not self.refused:
            self.instance_ids += added
            self._tag(self.instance_ids)

    def refresh(self):
        """Before each wave or batch: mark the instances again from now once the mark is RENEW_AFTER old, so a long run
        stays marked and a short one makes no more calls."""
        if not self.instance_ids or self.refused:
            return
        now = self.clock()
        if now - self.marked_at >= RENEW_AFTER:
            self._tag(self.instance_ids, now)

    def clear(self):
        """Remove this run's marks; an error is a warning (the marks expire), never the run's failure."""
        if not self.tagged:
            return
        try:
            for chunk in chunks(self.instance_ids):
                self.ec2.delete_tags(aws_retry=True, Resources=chunk, Tags=[{"Key": MAINTENANCE_TAG, "Value": self.value}])
        except Exception as error:  # pylint: disable=broad-except
            # This runs after the run's own error too, which is the one to report.
            self.warnings.append("could not remove the %s tag from %s (it expires at %s): %s"
                                 % (MAINTENANCE_TAG, ", ".join(self.instance_ids), self.value.split()[0], error_text(error)))
            return
        self.instance_ids = []
