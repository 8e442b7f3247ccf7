# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Starting many EBS snapshot copies into one destination Region within AWS's limit on copies in flight.

AWS runs at most 20 snapshot copies at once per destination Region and account, and answers
ResourceLimitExceeded beyond that. The queue keeps at most max_in_flight copies pending (counting
those earlier runs left pending), starts the next ones as earlier ones complete, and reads
ResourceLimitExceeded (copies it cannot see, from other tools) as "wait for a slot", never as a
failure. What is still queued at the deadline is handed back for a later run.
"""

import collections
import time

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_delay
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

AWS_COPIES_IN_FLIGHT = 20
COPY_LIMIT_ERROR = "ResourceLimitExceeded"

CopyRequest = collections.namedtuple("CopyRequest", "source_snapshot_id description tags")
# started {copy id: request}; failed [(request, error)]; queued [request] left at the deadline;
# in_flight: how many copies were pending then; warnings: sources that could not be unshared.
QueueResult = collections.namedtuple("QueueResult", "started failed queued in_flight warnings")


class CopyQueue:
    """Starts copies from source_region into the Region of destination_ec2.

    With share_with (an account id), each source is shared with that account for its
    CopySnapshot (through source_ec2), and unshared again when the copy cannot start.
    """

    def __init__(self, source_ec2, destination_ec2, source_region, max_in_flight, max_concurrency,
                 encrypted=False, kms_key_id=None, share_with=None, sleep=time.sleep, clock=time.monotonic):
        self.source_ec2 = source_ec2
        self.ec2 = destination_ec2
        self.source_region = source_region
        self.max_in_flight = max_in_flight
        self.max_concurrency = max_concurrency
        self.encrypted = encrypted
        self.kms_key_id = kms_key_id
        self.share_with = share_with
        self.sleep = sleep
        self.clock = clock

    def _start_one(self, request, warnings):
        if self.share_with:
            ebs_snapshots.set_shared(self.source_ec2, request.source_snapshot_id, self.share_with, True)
        try:
            return ebs_snapshots.copy_snapshot(self.ec2, self.source_region, request.source_snapshot_id, request.description, request.tags,
                                               self.encrypted, self.kms_key_id)
        except Exception:
            # No copy, so no reason to share; a queued source is shared again when its turn comes.
            if self.share_with:
                try:
                    ebs_snapshots.set_shared(self.source_ec2, request.source_snapshot_id, self.share_with, False)
                except Exception as error:  # pylint: disable=broad-except
                    warnings.append("could not stop sharing %s with account %s: %s" % (request.source_snapshot_id, self.share_with, error_text(error)))
            raise

    def start(self, requests, pending, deadline, on_started=None):
        """A QueueResult of starting a copy of each request, in their order, until `deadline` (of `clock`).

        `pending` holds the ids of copies already pending in the destination Region: they take slots.
        `on_started(copy_id, request)` is called as each copy starts.
        """
        queue = list(requests)
        in_flight = set(pending)
        started, failed, warnings = {}, [], []
        limited = False
        round_number = 0
        while queue:
            free = max(self.max_in_flight - len(in_flight), 0)
            # After ResourceLimitExceeded (copies this run cannot see fill the limit), probe with one.
            size = min(free, 1) if limited else free
            batch, queue = queue[:size], queue[size:]
            refused = []
            for outcome in run_bounded(lambda request: self._start_one(request, warnings), batch, self.max_concurrency):
                if outcome.ok:
                    in_flight.add(outcome.value)
                    started[outcome.value] = outcome.item
                    if on_started is not None:
                        on_started(outcome.value, outcome.item)
                elif error_code(outcome.error) == COPY_LIMIT_ERROR:
                    refused.append(outcome.item)
                else:
                    failed.append((outcome.item, outcome.error))
            limited = bool(refused)
            queue = refused + queue
            if not queue:
                break
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            self.sleep(min(poll_delay(round_number), remaining))
            round_number += 1
            latest = ebs_snapshots.describe_snapshots_by_id(self.ec2, sorted(in_flight))
            still = {copy_id for copy_id in in_flight if latest.get(copy_id, {}).get("state", "pending") == "pending"}
            if len(still) < len(in_flight):
                # Slots freed: copies that started with them finish about as soon, so the schedule starts again.
                round_number = 0
            in_flight = still
        return QueueResult(started, failed, queue, len(in_flight), warnings)
