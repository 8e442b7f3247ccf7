"""The shortest time AWS allows a workload, from its token buckets, the latency per call and the order of the work.

A lower bound, not a prediction: every call is sent the moment its bucket and the work before it
allow, a new backup is seen finished the moment it is (one describe's round trip after), and
nothing costs time on the controller. Three things set it:

- the token buckets, as the simulator meters them (simulator.throttling: one bucket per action
  and Region, full at the first call, AWS's documented size and refill rate); a call takes its
  token when it reaches the endpoint, one latency after it is sent;
- the latency per call: a call answers one latency after it is sent;
- the order the work must keep: per generation group, the old generation is removed only once
  the new one is finished (pending for `pending` seconds after its create answers), an AMI's
  snapshots only once it is deregistered, and at most `in_flight` copies pending at once.

Each function returns (seconds, steps), the steps saying how the figure was reached.
"""

import math

from simulator.throttling import bucket_class, default_figures

# Filters make every describe of these workloads draw on the larger non-mutating bucket.
FILTERED = {"Filter.1.Name": "tag:cloudops:policy"}


class Bucket:
    """One action's bucket: when each call in a row gets its token."""

    def __init__(self, action, throttling, params=None):
        figures = default_figures(bucket_class(action, params or {}))
        self.size = figures["size"]
        self.rate = figures["refill_per_second"]
        self.throttling = throttling
        self.tokens = float(self.size)
        self.updated = None

    def take(self, at):
        """The time a call arriving at `at` or later gets its token (calls taken in the order of their arrival)."""
        if not self.throttling:
            return at
        if self.updated is None:
            self.updated = at
        at = max(at, self.updated)
        self.tokens = min(self.size, self.tokens + (at - self.updated) * self.rate)
        if self.tokens < 1:
            at += (1 - self.tokens) / self.rate
            self.tokens = 1.0
        self.tokens -= 1
        self.updated = at
        return at

    def describe(self):
        return "%d, refill %g/s" % (self.size, self.rate) if self.throttling else "off"


def _calls(bucket, ready_times, latency):
    """Answer times of calls ready to be sent at `ready_times` (sent in that order)."""
    return [bucket.take(ready + latency) for ready in sorted(ready_times)]


def _bucket_line(buckets):
    return "buckets: " + "; ".join("%s %s" % (action, bucket.describe()) for action, bucket in buckets.items())


def ami_backup(instances, expired_per_instance, snapshots_per_image, latency, pending, throttling):
    """ami_rotate's work: read, create one image per instance, and once it is available deregister the expired and delete their snapshots."""
    buckets = {action: Bucket(action, throttling, FILTERED) for action in ("CreateImage", "DeregisterImage", "DeleteSnapshot")}
    # Reading the instances and the policy's images: one page each (1000 a page), one after the other.
    reads = math.ceil(instances / 1000) + math.ceil(instances * (expired_per_instance + 1) / 1000)
    start = reads * latency
    created = _calls(buckets["CreateImage"], [start] * instances, latency)
    # Seen available one describe after it is; then its instance's expired images can go.
    available = [t + pending + latency for t in created]
    deregistered = _calls(buckets["DeregisterImage"], [t for t in available for _copy in range(expired_per_instance)], latency)
    deleted = _calls(buckets["DeleteSnapshot"], [t for t in deregistered for _copy in range(snapshots_per_image)], latency)
    total = max(deleted or deregistered or available or [start])
    steps = [
        "%d reads of %.0f ms before the first create" % (reads, latency * 1000),
        _bucket_line(buckets),
        "creates answered by %.1f s; each image available %.1f s after its create, seen one call later" % (max(created), pending),
        "deregisters (each after its instance's new image is available) by %.1f s; snapshot deletes (each after its image) by %.1f s"
        % (max(deregistered or [0]), max(deleted or [0])),
    ]
    return total, steps


def snapshot_copies(sources, expired_per_source, latency, completed_after, throttling, in_flight=20):
    """snapshot_copy_generations' work: copy each source (at most `in_flight` pending), then delete its group's expired copy."""
    buckets = {action: Bucket(action, throttling, FILTERED) for action in ("CopySnapshot", "DeleteSnapshot")}
    reads = 2 * math.ceil(sources * (expired_per_source + 2) / 1000)
    start = reads * latency
    completed = []
    answered = []
    for number in range(sources):
        # A slot frees when the copy `in_flight` places earlier completes (seen one call later).
        ready = start if number < in_flight else max(start, completed[number - in_flight] + latency)
        answered.append(buckets["CopySnapshot"].take(ready + latency))
        completed.append(answered[-1] + completed_after)
    deleted = _calls(buckets["DeleteSnapshot"], [t + latency for t in completed for _copy in range(expired_per_source)], latency)
    total = max(deleted or [t + latency for t in completed])
    steps = [
        "%d reads of %.0f ms before the first copy" % (reads, latency * 1000),
        _bucket_line(buckets),
        "at most %d copies pending at once, each completed %.1f s after its CopySnapshot answers" % (in_flight, completed_after),
        "copies answered by %.1f s; expired copies deleted (each after its group's new copy completed) by %.1f s"
        % (max(answered), max(deleted or [0])),
    ]
    return total, steps


def run_command(instances, latency, command_seconds):
    """ssm_run's work: one SendCommand targeting the instances' tag, the command runs, the results read a page of 50 at a time."""
    pages = math.ceil(instances / 50)
    total = latency + command_seconds + latency * pages
    steps = [
        "1 SendCommand with the tag as its target (SSM finds the instances; SSM is not metered by the simulator)",
        "the command runs %.1f s on every instance at once, then %d reads of the invocations, 50 a page, one after the other" % (command_seconds, pages),
    ]
    return total, steps
