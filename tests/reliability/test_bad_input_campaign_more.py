"""Bad input to cloudops.aws.snapshot_rotate, snapshot_copy_generations, orphan_snapshot_cleanup and ssm_run:
wrong types, out-of-range values, unknown and malformed ids, malformed durations and filters, conflicting options.

As in test_bad_input_campaign, each case runs the module once on a seeded account. It must fail with a
message naming the option and the bad value, and make no mutating API call (from the simulator's request log).
"""

import pytest

from test_bad_input_campaign import RETENTION_RULE_CASES
from test_bad_input_campaign import ROTATION_OPTION_CASES
from test_bad_input_campaign import UNKNOWN_FILTER
from test_bad_input_campaign import assert_refused_naming
from test_bad_input_campaign import refused_filter
from test_bad_input_campaign import run_case
from test_bad_input_campaign import task_args


VOLUME = "vol-0123456789abcdef0"
INSTANCE = "i-0123456789abcdef0"
SNAPSHOT = "snap-0123456789abcdef0"
KEEP_2 = {"keep_last": 2}

# Filter values botocore cannot send, refused before any call; an unknown filter name, refused by EC2.
FILTER_CASES = [
    ("filters unknown name", {"filters": {UNKNOWN_FILTER: "x"}}, ["filters", UNKNOWN_FILTER]),
    ("filters nested value", {"filters": {"tag:Backup": {"deep": 1}}}, ["filters", "tag:Backup"]),
    ("filters list of lists", {"filters": {"tag:Backup": [["daily"]]}}, ["filters", "tag:Backup"]),
    ("filters null value", {"filters": {"tag:Backup": None}}, ["filters", "tag:Backup"]),
]

# The cloudops.aws.rotation fragment is shared by snapshot_rotate and snapshot_copy_generations.
RETENTION_CASES = RETENTION_RULE_CASES + ROTATION_OPTION_CASES

SNAPSHOT_ROTATE = {
    "fleet": {"region": "us-east-1", "instances": [
        {"name": "db-1", "tags": {"Role": "db"}, "volumes": [
            {"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 100, "tags": {"Backup": "daily"}}]},
        {"name": "web-1", "tags": {"Role": "web"}, "volumes": [{"device": "/dev/xvda", "size": 8, "tags": {"Backup": "daily"}}]}]},
    "base": {"filters": {"tag:Backup": "daily"}, "policy": "daily", "retention": KEEP_2},
    "faults": [refused_filter("DescribeVolumes")],
    "cases": RETENTION_CASES + FILTER_CASES + [
        ("volume_ids dict", {"volume_ids": {"a": 1}, "filters": None}, ["volume_ids"]),
        ("volume_ids unknown", {"volume_ids": [VOLUME], "filters": None}, ["volume_ids", VOLUME]),
        ("volume_ids not an id", {"volume_ids": ["data-disk"], "filters": None}, ["volume_ids", "data-disk"]),
        ("volume_ids an instance id", {"volume_ids": [INSTANCE], "filters": None}, ["volume_ids", INSTANCE]),
        ("instance_ids unknown", {"instance_ids": [INSTANCE], "filters": None}, ["instance_ids", INSTANCE]),
        ("instance_ids not an id", {"instance_ids": ["db-1"], "filters": None}, ["instance_ids", "db-1"]),
        ("volume_ids and filters", {"volume_ids": [VOLUME]}, ["volume_ids", "filters"]),
        ("instance_ids and filters", {"instance_ids": [INSTANCE]}, ["instance_ids", "filters"]),
        ("no selection", {"filters": None}, ["volume_ids", "filters", "instance_ids"]),
        ("filters not a dict", {"filters": "not a dict"}, ["filters"]),
        ("exclude_boot_volume not a bool", {"exclude_boot_volume": "maybe"}, ["exclude_boot_volume", "maybe"]),
        ("exclude_devices without instance_ids", {"exclude_devices": ["/dev/sdf"]}, ["exclude_devices", "instance_ids"]),
        ("copy_volume_tags not a bool", {"copy_volume_tags": "maybe"}, ["copy_volume_tags", "maybe"]),
        ("description unknown placeholder", {"description": "backup of {hostname}"}, ["description", "{hostname}"]),
        ("description too long", {"description": "x" * 201}, ["description", "201"]),
        ("max_concurrency 0", {"max_concurrency": 0}, ["max_concurrency", "0"]),
        ("max_concurrency too high", {"max_concurrency": 101}, ["max_concurrency", "101"]),
        ("unknown option", {"keep_last": 2}, ["keep_last"]),
    ],
}

SNAPSHOT_COPY = {
    "fleet": {"region": "us-east-1", "instances": [{"name": "db-1", "volumes": [{"device": "/dev/xvda", "size": 8}]}]},
    "base": {"source_region": "us-east-1", "region": "us-west-2", "filters": {"tag:cloudops:policy": "daily"},
             "policy": "daily", "retention": KEEP_2},
    "faults": [refused_filter("DescribeSnapshots")],
    "cases": RETENTION_CASES + FILTER_CASES + [
        ("source_region same as region", {"source_region": "us-west-2"}, ["source_region", "us-west-2"]),
        ("source_region without a number", {"source_region": "us-east"}, ["source_region", "us-east"]),
        ("source_region upper case", {"source_region": "US_EAST_1"}, ["source_region", "US_EAST_1"]),
        ("source_region trailing letter", {"source_region": "eu-west-9x"}, ["source_region", "eu-west-9x"]),
        ("source_region unknown", {"source_region": "eu-west-9"}, ["source_region", "eu-west-9"]),
        ("region without a number", {"region": "us-west"}, ["region", "us-west"]),
        ("region upper case", {"region": "US_WEST_2"}, ["region", "US_WEST_2"]),
        ("snapshot_ids dict", {"snapshot_ids": {"a": 1}, "filters": None}, ["snapshot_ids"]),
        ("snapshot_ids unknown", {"snapshot_ids": [SNAPSHOT], "filters": None}, ["snapshot_ids", SNAPSHOT]),
        ("snapshot_ids not an id", {"snapshot_ids": ["nightly"], "filters": None}, ["snapshot_ids", "nightly"]),
        ("snapshot_ids a volume id", {"snapshot_ids": [VOLUME], "filters": None}, ["snapshot_ids", VOLUME]),
        ("snapshot_ids and filters", {"snapshot_ids": [SNAPSHOT]}, ["snapshot_ids", "filters"]),
        ("neither snapshot_ids nor filters", {"filters": None}, ["snapshot_ids", "filters"]),
        ("filters not a dict", {"filters": "not a dict"}, ["filters"]),
        ("only_latest not a bool", {"only_latest": "maybe"}, ["only_latest", "maybe"]),
        ("max_copies_in_flight 0", {"max_copies_in_flight": 0}, ["max_copies_in_flight", "0"]),
        ("max_copies_in_flight too high", {"max_copies_in_flight": 21}, ["max_copies_in_flight", "21"]),
        ("max_copies_in_flight not a number", {"max_copies_in_flight": "many"}, ["max_copies_in_flight", "many"]),
        ("encrypted not a bool", {"encrypted": "maybe"}, ["encrypted", "maybe"]),
        ("kms_key_id without encrypted", {"kms_key_id": "alias/dr"}, ["kms_key_id", "encrypted"]),
        ("destination_role_arn malformed", {"destination_role_arn": "cloudops-dr-copy"},
         ["destination_role_arn", "cloudops-dr-copy"]),
        ("max_concurrency 0", {"max_concurrency": 0}, ["max_concurrency", "0"]),
        ("unknown option", {"destination_region": "us-west-2"}, ["destination_region"]),
    ],
}

ORPHAN_CLEANUP = {
    "fleet": {"region": "us-east-1", "instances": [{"name": "app-1", "volumes": [{"device": "/dev/xvda", "size": 8}]}]},
    "base": {},
    "cases": [
        ("include_unmanaged not a bool", {"include_unmanaged": "maybe"}, ["include_unmanaged", "maybe"]),
        ("min_age malformed", {"min_age": "abc"}, ["min_age", "abc"]),
        ("min_age unknown unit", {"min_age": "10x"}, ["min_age", "10x"]),
        ("min_age negative", {"min_age": "-1d"}, ["min_age", "-1d"]),
        ("min_age fraction", {"min_age": "1.5d"}, ["min_age", "1.5d"]),
        ("min_age without unit", {"min_age": "12"}, ["min_age", "12"]),
        ("min_age empty", {"min_age": ""}, ["min_age"]),
        ("min_age not a string", {"min_age": {"days": 1}}, ["min_age"]),
        ("max_concurrency 0", {"max_concurrency": 0}, ["max_concurrency", "0"]),
        ("max_concurrency negative", {"max_concurrency": -1}, ["max_concurrency", "-1"]),
        ("max_concurrency too high", {"max_concurrency": 101}, ["max_concurrency", "101"]),
        ("max_concurrency not a number", {"max_concurrency": "many"}, ["max_concurrency", "many"]),
        ("unknown option", {"policy": "daily"}, ["policy"]),
    ],
}

WEB = [{"key": "tag:Role", "values": ["web"]}]
SSM_RUN = {
    "fleet": {"region": "us-east-1", "instances": [{"name": "web", "count": 2, "tags": {"Role": "web"}}]},
    "base": {"targets": WEB, "commands": ["true"]},
    "cases": [
        ("instance_ids dict", {"instance_ids": {"a": 1}, "targets": None}, ["instance_ids"]),
        ("instance_ids not an id", {"instance_ids": ["web-1"], "targets": None}, ["instance_ids", "web-1"]),
        ("instance_ids unknown", {"instance_ids": [INSTANCE], "targets": None}, ["instance_ids", INSTANCE]),
        ("targets InstanceIds unknown", {"targets": [{"key": "InstanceIds", "values": [INSTANCE]}]}, ["targets", INSTANCE]),
        ("instance_ids and targets", {"instance_ids": [INSTANCE]}, ["instance_ids", "targets"]),
        ("neither instance_ids nor targets", {"targets": None}, ["instance_ids", "targets"]),
        ("targets not a list", {"targets": "tag:Role=web"}, ["targets"]),
        ("targets unknown key", {"targets": [{"key": "colour", "values": ["red"]}]}, ["targets", "colour"]),
        ("targets no values", {"targets": [{"key": "tag:Role", "values": []}]}, ["targets", "tag:Role"]),
        ("targets more than 5", {"targets": [{"key": "tag:K%d" % n, "values": ["v"]} for n in range(6)]}, ["targets", "6"]),
        ("document_name empty", {"document_name": ""}, ["document_name", "''"]),
        ("document_version malformed", {"document_version": "latest"}, ["document_version", "latest"]),
        ("parameters not a dict", {"parameters": ["true"], "commands": None}, ["parameters"]),
        ("commands and parameters commands", {"parameters": {"commands": ["true"]}}, ["commands", "parameters"]),
        ("shell unknown", {"shell": "zsh"}, ["shell", "zsh"]),
        ("max_concurrency 0", {"max_concurrency": "0"}, ["max_concurrency", "0"]),
        ("max_concurrency malformed", {"max_concurrency": "ten"}, ["max_concurrency", "ten"]),
        ("max_concurrency over 100%", {"max_concurrency": "150%"}, ["max_concurrency", "150%"]),
        ("max_errors negative", {"max_errors": "-1"}, ["max_errors", "-1"]),
        ("max_errors malformed", {"max_errors": "few"}, ["max_errors", "few"]),
        ("allowed_failures malformed", {"allowed_failures": "many"}, ["allowed_failures", "many"]),
        ("allowed_failures negative", {"allowed_failures": "-1"}, ["allowed_failures", "-1"]),
        ("timeout too low", {"timeout": 29}, ["timeout", "29"]),
        ("timeout too high", {"timeout": 2592001}, ["timeout", "2592001"]),
        ("timeout not a number", {"timeout": "soon"}, ["timeout", "soon"]),
        ("execution_timeout 0", {"execution_timeout": 0}, ["execution_timeout", "0"]),
        ("execution_timeout too high", {"execution_timeout": 172801}, ["execution_timeout", "172801"]),
        ("output_s3_key_prefix without bucket", {"output_s3_key_prefix": "runs/"}, ["output_s3_key_prefix", "output_s3_bucket"]),
        ("fetch_full_output without bucket", {"fetch_full_output": True}, ["fetch_full_output", "output_s3_bucket"]),
        ("fetch_full_output not a bool", {"fetch_full_output": "maybe"}, ["fetch_full_output", "maybe"]),
        ("notification_config unknown event", {"notification_config": {"notification_arn": "arn:aws:sns:us-east-1:123456789012:ops",
                                                                       "notification_events": ["Sometimes"]}},
         ["notification_events", "Sometimes"]),
        ("notification_config unknown type", {"notification_config": {"notification_arn": "arn:aws:sns:us-east-1:123456789012:ops",
                                                                      "notification_type": "Email"}},
         ["notification_type", "Email"]),
        ("notification_config topic not an ARN", {"service_role_arn": "arn:aws:iam::123456789012:role/ssm-notify",
                                                  "notification_config": {"notification_arn": "ops-alerts"}},
         ["notification_arn", "ops-alerts"]),
        ("service_role_arn not an ARN", {"service_role_arn": "ssm-notify"}, ["service_role_arn", "ssm-notify"]),
        ("comment too long", {"comment": "c" * 101}, ["comment", "101"]),
        ("skip_unmanaged not a bool", {"skip_unmanaged": "maybe"}, ["skip_unmanaged", "maybe"]),
        ("wait not a bool", {"wait": "maybe"}, ["wait", "maybe"]),
        ("wait_timeout negative", {"wait_timeout": -1}, ["wait_timeout", "-1"]),
        ("unknown option", {"command": "true"}, ["command"]),
    ],
}

MODULES = {
    "cloudops.aws.snapshot_rotate": SNAPSHOT_ROTATE,
    "cloudops.aws.snapshot_copy_generations": SNAPSHOT_COPY,
    "cloudops.aws.orphan_snapshot_cleanup": ORPHAN_CLEANUP,
    "cloudops.aws.ssm_run": SSM_RUN,
}
CASES = [pytest.param(module, change, words, id="%s: %s" % (module.rsplit(".", 1)[1], case))
         for module, spec in MODULES.items() for case, change, words in spec["cases"]]


@pytest.mark.parametrize("module, change, words", CASES)
def test_bad_input_fails_naming_the_option_and_value(sim, module, change, words):
    spec = MODULES[module]
    result, mutating = run_case(sim, module, spec, task_args(spec["base"], change))

    assert_refused_naming(result, words)
    assert mutating == []
