"""EC2 request-rate throttling with AWS's token buckets.

Figures from the EC2 Developer Guide page "Request throttling for the Amazon
EC2 API" (tables "Request token bucket sizes and refill rates"): each API
action has its own bucket per account and Region, sized by its category;
"uncategorized" actions have figures of their own.
"""

import threading
import time

CATEGORIES = {
    "non_mutating": {"size": 100, "refill_per_second": 20},
    "unfiltered_non_mutating": {"size": 50, "refill_per_second": 10},
    "mutating": {"size": 50, "refill_per_second": 5},
    "resource_intensive": {"size": 50, "refill_per_second": 5},
}

# Describes that draw on the smaller bucket when called with neither a filter nor pagination.
UNFILTERED_UNPAGINATED = {
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeNetworkInterfaces",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSpotInstanceRequests",
    "DescribeVolumes",
}

RESOURCE_INTENSIVE = {
    "AcceptVpcPeeringConnection",
    "AuthorizeSecurityGroupIngress",
    "CancelSpotInstanceRequests",
    "CreateKeyPair",
    "CreateVpcPeeringConnection",
    "DeleteVpcPeeringConnection",
    "RejectVpcPeeringConnection",
    "RevokeSecurityGroupIngress",
    "RequestSpotInstances",
}

# The uncategorized actions this collection calls (the page lists more).
UNCATEGORIZED = {
    "CopyImage": (100, 1),
    "CreateLaunchTemplateVersion": (100, 5),
    "CreateSnapshot": (100, 5),
    "CreateSnapshots": (100, 5),
    "CreateTags": (100, 10),
    "CreateVolume": (100, 5),
    "DeleteSnapshot": (100, 5),
    "DeleteTags": (100, 10),
    "DeleteVolume": (100, 5),
    "DeregisterImage": (100, 5),
    "ModifyImageAttribute": (100, 5),
    "ModifyLaunchTemplate": (100, 5),
    "ModifySnapshotAttribute": (100, 5),
    "RunInstances": (5, 2),
    "StartInstances": (5, 2),
    "TerminateInstances": (100, 5),
}

NON_MUTATING_PREFIXES = ("Describe", "List", "Search", "Get")


def bucket_class(action, params):
    """The name of the bucket figures that apply to an EC2 call."""
    if action in UNCATEGORIZED:
        return action
    if action in RESOURCE_INTENSIVE:
        return "resource_intensive"
    if action.startswith(NON_MUTATING_PREFIXES):
        narrowed = any(k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in params)
        if action in UNFILTERED_UNPAGINATED and not narrowed:
            return "unfiltered_non_mutating"
        return "non_mutating"
    return "mutating"


def default_figures(name):
    if name in UNCATEGORIZED:
        size, refill = UNCATEGORIZED[name]
        return {"size": size, "refill_per_second": refill}
    return dict(CATEGORIES[name])


class TokenBucket:
    def __init__(self, size, refill_per_second, clock=time.monotonic):
        self.size = size
        self.refill_per_second = refill_per_second
        self.tokens = float(size)
        self.clock = clock
        self.updated = clock()

    def take(self):
        now = self.clock()
        self.tokens = min(self.size, self.tokens + (now - self.updated) * self.refill_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Throttle:
    """One bucket per (region, action, class), created full on first use."""

    def __init__(self):
        self.lock = threading.Lock()
        self.enabled = False
        self.overrides = {}
        self.buckets = {}

    def configure(self, enabled=None, buckets=None):
        with self.lock:
            if enabled is not None:
                self.enabled = bool(enabled)
            if buckets is not None:
                self.overrides.update(buckets)
            # New figures or a switch on start from full buckets, as after a quiet period.
            self.buckets.clear()

    def reset(self):
        with self.lock:
            self.enabled = False
            self.overrides = {}
            self.buckets.clear()

    def allow(self, region, action, params):
        if not self.enabled:
            return True
        name = bucket_class(action, params)
        with self.lock:
            key = (region, action, name)
            bucket = self.buckets.get(key)
            if bucket is None:
                figures = self.overrides.get(action) or self.overrides.get(name) or default_figures(name)
                bucket = self.buckets[key] = TokenBucket(figures["size"], figures["refill_per_second"])
            return bucket.take()

    def describe(self):
        with self.lock:
            return {"enabled": self.enabled, "buckets": dict(self.overrides)}
