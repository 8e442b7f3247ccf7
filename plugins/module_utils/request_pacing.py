# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Spreading an EC2 action's calls at its bucket's refill rate once AWS has throttled it.

EC2 meters every API action with its own token bucket per account and Region ("Request
throttling for the Amazon EC2 API", EC2 Developer Guide): a bucket of 50 or 100 tokens refilled
at a few tokens a second, and a call that finds it empty answers RequestLimitExceeded. A bounded
pool retrying with backoff keeps hitting the empty bucket: every retry is another request, and
the backoff sleeps longer than the refill needs, so the pool idles while tokens pile up.

So the first RequestLimitExceeded of an action tells this client that the action's bucket is
empty, and from then on the client keeps its own copy of that bucket (AWS's documented size and
refill rate for the action) and holds each call of the action until the copy has a token. Calls
then leave at the refill rate, and the retries (botocore's and AWSRetry's) stay for the times
the copy is wrong: another client drawing on the same bucket, or a raised limit. An action never
throttled is never held, so an account with higher limits loses nothing.
"""

import threading
import time

THROTTLING_CODES = ("RequestLimitExceeded", "Throttling", "ThrottlingException")

# (size, refill per second) from the EC2 Developer Guide's tables, for the actions this collection
# calls; other actions by category: non-mutating (Describe*, Get*, List*, Search*) and mutating.
BUCKETS = {
    "CopyImage": (100, 1),
    "CreateSnapshot": (100, 5),
    "CreateSnapshots": (100, 5),
    "CreateTags": (100, 10),
    "DeleteSnapshot": (100, 5),
    "DeleteTags": (100, 10),
    "DeregisterImage": (100, 5),
    "ModifyImageAttribute": (100, 5),
    "ModifySnapshotAttribute": (100, 5),
}
NON_MUTATING = (100, 20)
MUTATING = (50, 5)
NON_MUTATING_PREFIXES = ("Describe", "Get", "List", "Search")


def bucket_figures(action):
    """(size, refill per second) of an EC2 action's bucket, as AWS documents it."""
    if action in BUCKETS:
        return BUCKETS[action]
    return NON_MUTATING if action.startswith(NON_MUTATING_PREFIXES) else MUTATING


class ActionPace:
    """This client's copy of one action's bucket, kept from its first throttled call on."""

    def __init__(self, size, refill_per_second, now):
        self.size = size
        self.rate = float(refill_per_second)
        # Throttled: AWS's bucket holds no token now.
        self.tokens = 0.0
        self.updated = now

    def reserve(self, now):
        """Seconds the caller waits before sending; each call takes a token, waiting ones in turn."""
        self.tokens = min(self.size, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def throttled(self, now):
        """AWS found the bucket empty: so is the copy, unless calls already wait for tokens."""
        self.tokens = min(self.tokens + (now - self.updated) * self.rate, 0.0)
        self.updated = now


class RequestPacer:
    """Holds each EC2 call whose action was throttled until its bucket copy has a token."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self.clock = clock
        self.sleep = sleep
        self.lock = threading.Lock()
        self.paces = {}
        self.held_seconds = 0.0

    def install(self, client):
        """Hook into a boto3 EC2 client (or amazon.aws's retrying wrapper of one); returns the client."""
        events = client.meta.events
        events.register("before-send.ec2", self.before_send)
        events.register("needs-retry.ec2", self.after_attempt)
        return client

    def hold(self, action):
        """Seconds to wait before sending a call of `action` (0 for an action never throttled)."""
        with self.lock:
            pace = self.paces.get(action)
            if pace is None:
                return 0.0
            delay = pace.reserve(self.clock())
            self.held_seconds += delay
            return delay

    def note_throttled(self, action):
        with self.lock:
            now = self.clock()
            pace = self.paces.get(action)
            if pace is None:
                size, rate = bucket_figures(action)
                self.paces[action] = ActionPace(size, rate, now)
            else:
                pace.throttled(now)

    # -- botocore event handlers: every attempt, botocore's own retries included ------------------

    def before_send(self, event_name=None, **kwargs):
        delay = self.hold(event_name.rsplit(".", 1)[-1])
        if delay > 0:
            self.sleep(delay)
        # None: botocore sends the request.

    def after_attempt(self, event_name=None, response=None, **kwargs):
        if response and response[1].get("Error", {}).get("Code") in THROTTLING_CODES:
            self.note_throttled(event_name.rsplit(".", 1)[-1])
        # None: botocore's retry handler decides on the retry.
