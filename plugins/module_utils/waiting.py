# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Waiting for many resources at once: one batched describe a round, not one waiter each."""

import time

# Short at first (small images and snapshots finish in a minute), then steady, so a hundred
# pending resources cost one describe call a round for as long as they take.
POLL_DELAYS = (2, 4, 8, 15)


def poll_delay(round_number, schedule=POLL_DELAYS):
    """The pause before poll round `round_number` (0 is the first): each step once, then the last for ever."""
    return schedule[min(round_number, len(schedule) - 1)]


def poll_until_settled(describe, id_key, resource_ids, timeout, sleep=time.sleep, clock=time.monotonic):
    """{id: summary} with each resource's last seen state, once none is pending or time is up.

    `describe(ids)` returns summaries carrying `id_key` and `state`; an id it does not return
    yet (eventual consistency just after creation) counts as pending.
    """
    deadline = clock() + timeout
    latest = {}
    pending = list(resource_ids)
    round_number = 0
    while pending:
        for summary in describe(pending):
            latest[summary[id_key]] = summary
        pending = [resource_id for resource_id in pending if latest.get(resource_id, {}).get("state", "pending") == "pending"]
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            break
        sleep(min(poll_delay(round_number), remaining))
        round_number += 1
    return latest
