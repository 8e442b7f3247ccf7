"""Bad input to cloudops.aws.ami_rotate: every option with wrong types, out-of-range values,
unknown ids, malformed durations and filters, and conflicting options.

Each case runs the module once (in the test process, tests/module_runs.py: the argument-spec
checks and the module's own run as under ansible-playbook) on a seeded account. It must fail with
a message naming the option and the bad value, and make no mutating API call (from the
simulator's request log).
"""

import pytest

from module_runs import run_module

FLEET = {"region": "us-east-1", "instances": [
    {"name": "web-1", "tags": {"Role": "web"}}, {"name": "web-2", "tags": {"Role": "web"}}]}
BASE = {"filters": {"tag:Role": "web"}, "policy": "daily", "retention": {"keep_last": 2}}
MUTATING_PREFIXES = ("Create", "Delete", "Deregister", "Register", "Copy", "Modify", "Run", "Terminate", "Start", "Stop",
                     "Send", "Cancel")
LONG = "x" * 300
UNKNOWN_FILTER = "no-such-filter"

# The retention option (the cloudops.aws.rotation fragment), shared with snapshot_rotate and snapshot_copy_generations.
RETENTION_RULE_CASES = [
    ("retention empty", {"retention": {}}, ["retention", "keep_last"]),
    ("retention unknown rule", {"retention": {"keep_forever": 3}}, ["retention", "keep_forever"]),
    ("retention keeps nothing", {"retention": {"keep_daily": 0}}, ["retention", "keeps nothing"]),
    ("keep_last 0", {"retention": {"keep_last": 0}}, ["keep_last", "0"]),
    ("keep_last negative", {"retention": {"keep_last": -1}}, ["keep_last", "-1"]),
    ("keep_last not a number", {"retention": {"keep_last": "two"}}, ["keep_last", "two"]),
    ("keep_daily negative", {"retention": {"keep_daily": -3}}, ["keep_daily", "-3"]),
    ("keep_within malformed", {"retention": {"keep_within": "abc"}}, ["keep_within", "abc"]),
    ("keep_within unknown unit", {"retention": {"keep_within": "10x"}}, ["keep_within", "10x"]),
    ("keep_within negative", {"retention": {"keep_within": "-5d"}}, ["keep_within", "-5d"]),
    ("keep_within fraction", {"retention": {"keep_within": "1.5d"}}, ["keep_within", "1.5d"]),
    ("keep_within zero", {"retention": {"keep_within": "0s"}}, ["keep_within", "0s"]),
]
# The rest of that fragment's options, as ami_rotate, snapshot_rotate and snapshot_copy_generations check them.
ROTATION_OPTION_CASES = [
    ("policy empty", {"policy": ""}, ["policy"]),
    ("policy too long", {"policy": LONG}, ["policy", LONG]),
    ("tags not a dict", {"tags": "not a dict"}, ["tags"]),
    ("tags reserved key", {"tags": {"cloudops:policy": "x"}}, ["tags", "cloudops:policy"]),
    ("tags value too long", {"tags": {"Team": LONG}}, ["tags", "Team"]),
    ("min_interval malformed", {"min_interval": "7x"}, ["min_interval", "7x"]),
    ("min_interval negative", {"min_interval": "-1h"}, ["min_interval", "-1h"]),
    ("min_interval without unit", {"min_interval": "20"}, ["min_interval", "20"]),
    ("wait not a bool", {"wait": "maybe"}, ["wait", "maybe"]),
    ("wait_timeout negative", {"wait_timeout": -1}, ["wait_timeout", "-1"]),
    ("wait_timeout not a number", {"wait_timeout": "soon"}, ["wait_timeout", "soon"]),
]

# (case id, the options changed from BASE (None removes one), words the error message must hold)
CASES = [
    ("instance_ids dict", {"instance_ids": {"a": 1}, "filters": None}, ["instance_ids"]),
    ("instance_ids unknown", {"instance_ids": ["i-0123456789abcdef0"], "filters": None}, ["instance_ids", "i-0123456789abcdef0"]),
    ("instance_ids not an id", {"instance_ids": ["web-1"], "filters": None}, ["instance_ids", "web-1"]),
    ("instance_ids number", {"instance_ids": [12345], "filters": None}, ["instance_ids", "12345"]),
    ("instance_ids and filters", {"instance_ids": ["i-0123456789abcdef0"]}, ["instance_ids", "filters"]),
    ("neither instance_ids nor filters", {"filters": None}, ["instance_ids", "filters"]),
    ("filters not a dict", {"filters": "not a dict"}, ["filters"]),
    ("filters unknown name", {"filters": {UNKNOWN_FILTER: "x"}}, ["filters", UNKNOWN_FILTER]),
    ("filters empty dict of a bad type", {"filters": {"tag:Role": [["web"]]}}, ["filters", "tag:Role"]),
    ("filters nested value", {"filters": {"tag:Role": {"deep": 1}}}, ["filters", "tag:Role"]),
    ("policy blank", {"policy": "   "}, ["policy"]),
    # ansible-core 2.19 checks a dict option with suboptions itself and answers "argument of type
    # 'int' is not iterable" before the module runs: it fails and changes nothing, but cannot name
    # the option. Kept so that a better answer from ansible-core is noticed.
    ("retention not a dict", {"retention": 5}, ["not iterable"]),
    *RETENTION_RULE_CASES,
    *ROTATION_OPTION_CASES,
    ("name unknown placeholder", {"name": "{hostname}-backup"}, ["name", "{hostname}"]),
    ("name unbalanced brace", {"name": "{instance_id-backup"}, ["name", "{instance_id-backup"]),
    ("name too short", {"name": "ab"}, ["name", "'ab'"]),
    ("name too long", {"name": LONG + "{timestamp}"}, ["name", LONG]),
    ("name without timestamp", {"name": "backup-{instance_id}"}, ["name", "backup-{instance_id}", "{timestamp}"]),
    ("description unknown placeholder", {"description": "backup of {hostname}"}, ["description", "{hostname}"]),
    ("description too long", {"description": LONG}, ["description", LONG]),
    ("no_reboot not a bool", {"no_reboot": "maybe"}, ["no_reboot", "maybe"]),
    ("protect_in_use not a bool", {"protect_in_use": "maybe"}, ["protect_in_use", "maybe"]),
    ("tags key too long", {"tags": {LONG: "x"}}, ["tags", LONG]),
    ("max_concurrency 0", {"max_concurrency": 0}, ["max_concurrency", "0"]),
    ("max_concurrency too high", {"max_concurrency": 101}, ["max_concurrency", "101"]),
    ("max_concurrency not a number", {"max_concurrency": "many"}, ["max_concurrency", "many"]),
    ("unknown option", {"keep_last": 2}, ["keep_last"]),
]


def task_args(base, change):
    """`base` with the case's changes; an option changed to None is left out."""
    args = dict(base)
    args.update(change)
    return {key: value for key, value in args.items() if value is not None}


def refused_filter(action):
    """A fault rule: moto answers a filter it does not know with an HTTP 500; AWS answers this (EC2 API errors page)."""
    return {"action": action, "code": "InvalidParameterValue", "match": UNKNOWN_FILTER, "count": None,
            "message": "The filter '%s' is invalid" % UNKNOWN_FILTER}


def run_case(sim, module, spec, args):
    """The module's result on the account `spec` describes (fleet, faults), and the mutating calls it made."""
    sim.seed(spec["fleet"])
    for fault in spec.get("faults", []):
        sim.add_fault(**fault)
    sim.clear_log()
    result = run_module(sim, module, args)
    return result, [call for call in sim.calls() if call["action"].startswith(MUTATING_PREFIXES)]


def assert_refused_naming(result, words):
    """The task failed, and its message holds each of `words` (the option and the bad value)."""
    assert result.get("failed") is True, "accepted: %s" % result.get("msg", result.get("changed"))
    missing = [word for word in words if word not in result["msg"]]
    assert not missing, "message %r does not name %s" % (result["msg"], missing)


AMI_ROTATE = {"fleet": FLEET, "faults": [refused_filter("DescribeInstances")]}


@pytest.mark.parametrize("case, change, words", CASES, ids=[case for case, _change, _words in CASES])
def test_bad_input_fails_naming_the_option_and_value(sim, case, change, words):
    result, mutating = run_case(sim, "cloudops.aws.ami_rotate", AMI_ROTATE, task_args(BASE, change))

    assert_refused_naming(result, words)
    assert mutating == []
