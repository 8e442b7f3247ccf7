"""The rolling_deploy sequence on an in-memory account (deploy_fakes): batches that keep the minimum, versions,
failures, rollback, stopping early, selection by target group, a killed run. Each test asserts what the account holds
afterwards (target groups, tags, what each machine runs) and the order things happened in."""

import pytest

from deploy_fakes import DeployAws
from fakes import Clock

from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy import Clients
from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy import RollingDeploy
from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy_settings import RollingDeploySettings
from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.waves import WavePlanError

TAG = "cloudops:deployed-version"
MARK = "cloudops:out-of-service:"


def settings(**changes):
    params = {name: spec.get("default") for name, spec in argument_spec().items()}
    params.update(version="2.0", deploy_commands=["./deploy.sh"], health_command="./healthy.sh")
    params.update(changes)
    return RollingDeploySettings.from_params(params)


def deploy(aws, check_mode=False, **changes):
    clock = Clock()
    run = RollingDeploy(Clients(aws, aws, aws, aws), settings(**changes), check_mode=check_mode, sleep=clock.sleep, clock=clock)
    run.run()
    return run


def by_id(run):
    return {entry["instance_id"]: entry for entry in run.result["instances"]}


def version_tags(aws, ids):
    return [aws.instances[i]["tags"].get(TAG) for i in ids]


def marks(aws, instance_id):
    return {key: value for key, value in aws.instances[instance_id]["tags"].items() if key.startswith(MARK)}


def test_batches_keep_each_target_groups_minimum_and_each_instance_drains_before_its_deploy():
    aws = DeployAws()
    web = aws.add_instances(8)
    workers = aws.add_instances(2)
    group = aws.add_group("web", web)

    run = deploy(aws, instance_ids=web + workers, batch_size="50%", min_healthy="75%")

    assert run.verdict() is None and run.result["changed"] is True
    # 50% of 10 is 5, but 75% of the 8 web servers keeps 6 of them in: two web servers a batch, the workers fill the first.
    assert run.result["batches"] == [web[:2] + workers, web[2:4], web[4:6], web[6:]]
    assert min(left for _group, left in aws.left_in_service) == 6 and aws.groups[group] == {i: "healthy" for i in web}
    assert [action for action, i in aws.events if i == web[0]] == ["deregister", "deploy", "health", "register"]
    assert [action for action, i in aws.events if i == workers[0]] == ["deploy", "health"]
    assert {aws.versions[i] for i in web + workers} == {"2.0"} and set(version_tags(aws, web + workers)) == {"2.0"}
    assert not any(marks(aws, i) for i in web)
    entries = by_id(run)
    assert {(e["status"], e["health"], e["version_before"]) for e in entries.values()} == {("deployed", "passed", None)}
    assert [entries[i]["batch"] for i in (web[0], workers[1], web[7])] == [1, 1, 4]
    assert run.result["totals"] == {"instances": 10, "deployed": 10, "skipped": 0, "failed": 0, "rolled_back": 0, "not_reached": 0}


@pytest.mark.parametrize("batch_size, sizes", [("one_at_a_time", [1, 1, 1, 1]), ("half_at_a_time", [2, 2]), ("all_at_once", [4]),
                                               (3, [3, 1]), ("25%", [1, 1, 1, 1])])
def test_batch_sizes_and_presets(batch_size, sizes):
    aws = DeployAws()
    ids = aws.add_instances(4)

    run = deploy(aws, instance_ids=ids, batch_size=batch_size)

    assert [len(batch) for batch in run.result["batches"]] == sizes
    assert [len(request["InstanceIds"]) for request in aws.sent if request["Comment"].split()[2] == "deploy"] == sizes


def test_the_version_reaches_every_command_as_an_environment_variable_quoted():
    request = settings(instance_ids=["i-0123456789abcdef0"], version="2.0 beta's", rollback_commands=["./back.sh"],
                       version_command="cat VERSION").request
    for step in ("deploy", "health", "rollback", "version"):
        assert request(step)["Parameters"]["commands"][0] == "export DEPLOY_VERSION='2.0 beta'\"'\"'s'"
    assert request("deploy")["Parameters"]["commands"][1:] == ["./deploy.sh"]
    assert request("deploy")["DocumentName"] == "AWS-RunShellScript"
    assert settings(instance_ids=["i-0123456789abcdef0"]).request("rollback") is None


def test_a_run_again_with_nothing_to_do_sends_no_command_and_changes_nothing():
    aws = DeployAws()
    ids = aws.add_instances(3)
    group = aws.add_group("web", ids)
    deploy(aws, instance_ids=ids, min_healthy="1")
    aws.sent.clear()
    aws.events.clear()

    again = deploy(aws, instance_ids=ids, min_healthy="1")

    assert again.result["changed"] is False and again.verdict() is None
    assert not aws.sent and not aws.events and again.result["batches"] == []
    assert aws.groups[group] == {i: "healthy" for i in ids}
    entries = by_id(again)
    assert {(e["status"], e["version_before"], e["batch"]) for e in entries.values()} == {("skipped", "2.0", None)}
    assert entries[ids[0]]["reason"] == "already at version 2.0 (tag cloudops:deployed-version)"


def test_a_version_command_decides_instead_of_the_tag_and_one_that_fails_reads_as_no_version():
    aws = DeployAws()
    current, tagged_only, empty = aws.add_instances(3)
    aws.versions[current] = "2.0"
    aws.instances[tagged_only]["tags"][TAG] = "2.0"

    run = deploy(aws, instance_ids=[current, tagged_only, empty], version_command="cat VERSION")

    assert aws.sent_steps()[0] == "version" and sorted(aws.sent[0]["InstanceIds"]) == sorted([current, tagged_only, empty])
    entries = by_id(run)
    assert (entries[current]["status"], entries[current]["reason"]) == ("skipped", "already at version 2.0 (version_command)")
    assert [entries[i]["status"] for i in (tagged_only, empty)] == ["deployed", "deployed"]
    assert entries[empty]["version_before"] is None and "version_command: Failed (exit code 1)" in entries[empty]["reason"]
    assert aws.order_of("deploy") == [tagged_only, empty]


def test_a_bad_version_stops_after_the_first_batch_and_the_rollback_puts_the_batch_back_in_service():
    aws = DeployAws()
    ids = aws.add_instances(6)
    group = aws.add_group("web", ids)
    deploy(aws, instance_ids=ids, version="1.0", min_healthy="0")
    aws.bad_versions.add("2.0")
    aws.events.clear()

    run = deploy(aws, instance_ids=ids, batch_size="2", min_healthy="4", rollback_commands=["./rollback.sh"])

    assert run.result["stopped_early"].startswith("batch 1: 2 of 2 instance(s) failed, max_failures 0 allows 0: ")
    assert "stopped early" in run.verdict()
    assert aws.order_of("deploy") == ids[:2] and aws.order_of("rollback") == ids[:2]
    assert [action for action, i in aws.events if i == ids[0]] == ["deregister", "deploy", "health", "rollback", "health", "register"]
    # Rolled back to 1.0 and healthy in service; the rest never touched.
    assert aws.groups[group] == {i: "healthy" for i in ids}
    assert [aws.versions[i] for i in ids] == ["1.0"] * 6 and version_tags(aws, ids) == ["1.0"] * 6
    entries = by_id(run)
    assert [entries[i]["status"] for i in ids] == ["rolled_back"] * 2 + ["not_reached"] * 4
    assert entries[ids[0]]["reason"] == "health: Failed (exit code 1): exit status 1; rolled back by rollback_commands"
    assert entries[ids[0]]["health"] == "passed" and entries[ids[2]]["reason"] == "not deployed: the rollout stopped early"
    assert not any(marks(aws, i) for i in ids)


def test_without_rollback_a_failed_deploy_stays_out_of_service_with_its_marks_and_fails_the_task():
    aws = DeployAws()
    ids = aws.add_instances(3)
    group = aws.add_group("web", ids)
    aws.deploy_fails.add(ids[1])

    run = deploy(aws, instance_ids=ids, batch_size="one_at_a_time", min_healthy="1")

    entry = by_id(run)[ids[1]]
    assert (entry["status"], entry["health"], entry["reason"]) == ("failed", "not_run", "deploy: Failed (exit code 1): exit status 1")
    # Out of its group, remembered by its marks; the batch after it never started.
    assert set(aws.groups[group]) == {ids[0], ids[2]} and list(marks(aws, ids[1]).values()) == [group + " 80"]
    assert version_tags(aws, ids) == ["2.0", None, None] and by_id(run)[ids[2]]["status"] == "not_reached"
    assert ids[1] in run.verdict()


def test_failures_within_max_failures_go_on_and_do_not_fail_the_task():
    aws = DeployAws()
    ids = aws.add_instances(4)
    aws.deploy_fails.add(ids[0])

    run = deploy(aws, instance_ids=ids, batch_size="2", max_failures="50%")

    assert run.result["stopped_early"] is None and run.verdict() is None
    assert any("batch 1: 1 instance(s) failed, within max_failures 50%" in warning for warning in run.warnings)
    assert [by_id(run)[i]["status"] for i in ids] == ["failed", "deployed", "deployed", "deployed"]


def test_target_groups_by_name_or_arn_select_their_members_and_what_an_earlier_run_left_out_of_them():
    aws = DeployAws()
    web, other = aws.add_instances(3), aws.add_instances(1)
    group = aws.add_group("web", web[1:])
    aws.add_group("api", other)
    aws.instances[web[0]]["tags"][MARK + "1"] = group + " 80"

    by_name = deploy(aws, target_group_names=["web"], min_healthy="0")

    assert sorted(by_id(by_name)) == web and aws.order_of("deploy") == web
    assert "an earlier run left it out of targetgroup/web/" in by_id(by_name)[web[0]]["reason"]
    assert aws.groups[group] == {i: "healthy" for i in web} and not marks(aws, web[0])
    assert sorted(by_id(deploy(aws, target_group_arns=[group], version="3.0", min_healthy="0"))) == web


@pytest.mark.parametrize("changes, message", [
    ({"target_group_names": ["web", "nope"]}, "target_group_names: no target group named 'nope'"),
    ({"target_group_arns": ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef"]},
     "target_group_arns: not a target group of instances in this Region: .*targetgroup/gone/"),
    ({"target_group_names": ["ips"]}, "target_group_names: not a target group of instances .*targetgroup/ips/"),
])
def test_an_unknown_target_group_is_refused_before_anything_is_sent(changes, message):
    aws = DeployAws()
    aws.add_group("web", aws.add_instances(1))
    aws.ip_groups.add(aws.add_group("ips", []))

    with pytest.raises(SelectionError, match=message):
        deploy(aws, **changes)
    assert not aws.sent and not aws.events


def test_a_minimum_that_can_never_be_kept_refuses_the_run_before_anything_changes():
    aws = DeployAws()
    ids = aws.add_instances(2)
    aws.add_group("web", ids)

    with pytest.raises(WavePlanError, match="min_healthy 100% of target group .*web"):
        deploy(aws, instance_ids=ids, min_healthy="100%")
    assert not aws.sent and not aws.events


def test_a_killed_run_leaves_its_batch_out_of_service_and_the_next_run_puts_it_back():
    aws = DeployAws()
    ids = aws.add_instances(3)
    group = aws.add_group("web", ids)
    # Killed as the second batch's deploy is sent: that machine has the version, but no health check, registration or tag.
    aws.killed_at_deploy = 2
    pytest.raises(KeyboardInterrupt, deploy, aws, instance_ids=ids, batch_size="one_at_a_time", min_healthy="1")
    assert set(aws.groups[group]) == {ids[0], ids[2]} and marks(aws, ids[1]) and aws.versions[ids[1]] == "2.0"
    assert version_tags(aws, ids) == ["2.0", None, None]
    aws.killed_at_deploy = None
    aws.instances[ids[1]]["tags"][TAG] = "2.0"  # even one tagged at the version goes through a batch

    run = deploy(aws, instance_ids=ids, batch_size="one_at_a_time", min_healthy="1")

    assert run.verdict() is None and run.result["batches"] == [[ids[1]], [ids[2]]]
    assert aws.groups[group] == {i: "healthy" for i in ids} and not marks(aws, ids[1])
    assert version_tags(aws, ids) == ["2.0"] * 3
    assert [by_id(run)[i]["status"] for i in ids] == ["skipped", "deployed", "deployed"]


def test_check_mode_plans_the_batches_and_sends_nothing():
    aws = DeployAws()
    ids = aws.add_instances(4)
    aws.add_group("web", ids)
    aws.instances[ids[0]]["tags"][TAG] = "2.0"

    run = deploy(aws, check_mode=True, instance_ids=ids, batch_size="1", min_healthy="1", version_command="cat VERSION")

    assert run.result["changed"] is True and not aws.sent and not aws.events
    assert run.result["batches"] == [[i] for i in ids]
    assert {e["status"] for e in run.result["instances"]} == {"not_reached"}
    assert by_id(run)[ids[3]]["reason"] == "check mode: would be deployed in batch 4"


def test_stopped_unmanaged_and_offline_instances_are_skipped_with_the_reason():
    aws = DeployAws()
    running = aws.add_instances(1)
    stopped = aws.add_instances(1, state="stopped")
    unmanaged, offline = aws.add_instances(2)
    aws.unmanaged.add(unmanaged)
    aws.offline.add(offline)

    run = deploy(aws, instance_ids=running + stopped + [unmanaged, offline])

    entries = by_id(run)
    assert aws.order_of("deploy") == running and entries[running[0]]["status"] == "deployed"
    assert [entries[i]["status"] for i in stopped + [unmanaged, offline]] == ["skipped"] * 3
    assert entries[stopped[0]]["reason"] == "instance is stopped"
    assert "not managed" in entries[unmanaged]["reason"] and "offline" in entries[offline]["reason"]
    assert any("not deployed" in warning for warning in run.warnings)


@pytest.mark.parametrize("changes, message", [
    ({"batch_size": "0"}, "batch_size: '0' takes nothing"),
    ({"batch_size": 0}, "batch_size: 0 takes nothing"),
    ({"batch_size": "150%"}, "batch_size: '150%' is above 100%"),
    ({"batch_size": "two_at_a_time"}, "batch_size: 'two_at_a_time' is neither a count nor a percentage .* or one of one_at_a_time"),
    ({"min_healthy": "101%"}, "min_healthy: '101%' is above 100%"),
    ({"max_failures": "-1"}, "max_failures: '-1'"),
    ({"filters": {"tag:Role": "web"}}, "instance_ids, filters, target_group_arns, target_group_names: select by exactly one"),
    ({"instance_ids": None}, "select by exactly one of them, got none"),
    ({"instance_ids": []}, "instance_ids: the list is empty"),
    ({"instance_ids": ["web-1"]}, "instance_ids: not an instance id: 'web-1'"),
    ({"instance_ids": None, "filters": {}}, r"filters: \{\} selects every instance"),
    ({"instance_ids": None, "target_group_arns": ["web"]}, "target_group_arns: not a target group ARN: 'web'"),
    ({"instance_ids": None, "target_group_names": ["web_1"]}, "target_group_names: not a target group name: 'web_1'"),
    ({"deploy_commands": []}, r"deploy_commands: \[\] runs nothing"),
    ({"deploy_commands": ["", "  "]}, r"deploy_commands: \['', '  '\] runs nothing"),
    ({"rollback_commands": []}, r"rollback_commands: \[\] runs nothing"),
    ({"health_command": " "}, "health_command: ' ' runs nothing"),
    ({"version_command": ""}, "version_command: '' runs nothing"),
    ({"version": "  "}, "version: '  ' must be 1 to 256 characters"),
    ({"version": "v" * 257}, "version: 'vvv.* must be 1 to 256 characters"),
    ({"drain_timeout": 0}, "drain_timeout: must be 1 or more seconds, got 0"),
])
def test_bad_input_is_refused_naming_the_option_and_the_value(changes, message):
    with pytest.raises(ValueError, match=message):
        settings(**dict({"instance_ids": ["i-0123456789abcdef0"]}, **changes))
