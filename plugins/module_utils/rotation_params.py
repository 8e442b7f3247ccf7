# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The options every rotating module shares (doc fragment cloudops.aws.rotation), and their checks."""

from ansible_collections.cloudops.aws.plugins.module_utils.durations import parse_duration
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import RESERVED_PREFIX
from ansible_collections.cloudops.aws.plugins.module_utils.retention import policy_from_params

RETENTION_KEYS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
MAX_CONCURRENCY_LIMIT = 100
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256


def rotation_argument_spec():
    retention = {key: {"type": "int"} for key in RETENTION_KEYS}
    retention["keep_within"] = {"type": "str"}
    return dict(
        policy=dict(type="str", default="default"),
        retention=dict(type="dict", required=True, options=retention),
        tags=dict(type="dict", default={}),
        min_interval=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        max_concurrency=dict(type="int", default=10),
    )


def validate_max_concurrency(value):
    if not 1 <= value <= MAX_CONCURRENCY_LIMIT:
        raise ValueError("max_concurrency: must be between 1 and %d, got %d" % (MAX_CONCURRENCY_LIMIT, value))
    return value


def rotation_params(params):
    """The shared options checked, before any AWS call; ValueError names the option and the value."""
    policy = params["policy"].strip()
    if not policy:
        raise ValueError("policy: must not be empty")
    # The policy is a tag value; AWS would refuse the create calls, one resource at a time.
    if len(policy) > TAG_VALUE_MAX:
        raise ValueError("policy: %r is %d characters; a tag value holds at most %d" % (policy, len(policy), TAG_VALUE_MAX))
    reserved = sorted(key for key in params["tags"] if str(key).startswith(RESERVED_PREFIX))
    if reserved:
        raise ValueError("tags: keys starting with %r are reserved for the collection's own tags: %s" % (RESERVED_PREFIX, ", ".join(reserved)))
    for key, value in params["tags"].items():
        if not 1 <= len(str(key)) <= TAG_KEY_MAX:
            raise ValueError("tags: key %r is %d characters; AWS allows 1 to %d" % (key, len(str(key)), TAG_KEY_MAX))
        if len(str(value)) > TAG_VALUE_MAX:
            raise ValueError("tags: value of %r is %d characters; AWS allows at most %d" % (key, len(str(value)), TAG_VALUE_MAX))
    if params["wait_timeout"] < 0:
        raise ValueError("wait_timeout: must be 0 or more seconds, got %d" % params["wait_timeout"])
    try:
        min_interval = parse_duration(params["min_interval"]) if params["min_interval"] is not None else None
    except ValueError as error:
        raise ValueError("min_interval: %s" % error) from error
    return dict(
        policy=policy,
        retention=policy_from_params({key: value for key, value in params["retention"].items() if value is not None}),
        extra_tags={str(key): str(value) for key, value in params["tags"].items()},
        min_interval=min_interval,
        wait=params["wait"],
        wait_timeout=params["wait_timeout"],
        max_concurrency=validate_max_concurrency(params["max_concurrency"]),
    )
