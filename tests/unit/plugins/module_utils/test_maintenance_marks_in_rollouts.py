# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""patch_rollout and rolling_deploy mark the instances they work on (cloudops:maintenance) so that instance_schedule
leaves them alone, and remove the marks when they end, also when they fail; a run with nothing to do marks nothing."""

import pytest
from botocore.exceptions import ClientError
from deploy_fakes import DeployAws
from fakes import Clock
from patching_fakes import NOW
from patching_fakes import FakeAws

from ansible_collections.cloudops.aws.plugins.module_utils import patch_rollout
from ansible_collections.cloudops.aws.plugins.module_utils import patch_rollout_settings
from ansible_collections.cloudops.aws.plugins.module_utils import rolling_deploy
from ansible_collections.cloudops.aws.plugins.module_utils import rolling_deploy_settings
from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import MAINTENANCE_TAG
from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import Mark


def watched(aws):
    """Record, for every command sent and every instance started or stopped, the maintenance marks of its instances."""
    seen = []
    for name in ("send_command", "start_instances", "stop_instances"):
        original = getattr(aws, name)

        def wrapper(original=original, name=name, **request):
            ids = request["InstanceIds"]
            seen.append((name, {i: aws.instances[i]["tags"].get(MAINTENANCE_TAG) for i in ids}))
            return original(**request)
        setattr(aws, name, wrapper)
    return seen


def params(spec, **changes):
    values = {name: option.get("default") for name, option in spec.items()}
    values.update(changes)
    return values


def deploy(aws, **changes):
    settings = rolling_deploy_settings.RollingDeploySettings.from_params(params(
        rolling_deploy_settings.argument_spec(), version="2.0", deploy_commands=["./deploy.sh"], **changes))
    clock = Clock()
    run = rolling_deploy.RollingDeploy(rolling_deploy.Clients(aws, aws, aws, aws), settings, sleep=clock.sleep, clock=clock)
    run.run()
    return run


def patch(aws, **changes):
    settings = patch_rollout_settings.PatchRolloutSettings.from_params(params(patch_rollout_settings.argument_spec(), **changes))
    clock = Clock()
    run = patch_rollout.PatchRollout(patch_rollout.Clients(aws, aws, aws, aws, aws), settings, NOW, sleep=clock.sleep, clock=clock)
    run.run()
    return run


def test_rolling_deploy_marks_each_instance_while_it_deploys_and_clears_the_marks():
    aws = DeployAws()
    ids = aws.add_instances(4)
    seen = watched(aws)

    run = deploy(aws, instance_ids=ids, batch_size="50%")

    assert run.verdict() is None
    deploys = [marks for name, marks in seen if name == "send_command"]
    assert deploys and all(value and Mark.parse(value).owner == "rolling_deploy" for marks in deploys for value in marks.values())
    assert all(MAINTENANCE_TAG not in aws.instances[i]["tags"] for i in ids)

    # A run again: every instance at the version, nothing marked, no tag call.
    again = watched(aws)
    deploy(aws, instance_ids=ids, batch_size="50%")
    assert again == [] and all(MAINTENANCE_TAG not in aws.instances[i]["tags"] for i in ids)


def test_patch_rollout_marks_stopped_instances_before_starting_them_and_clears_after_stopping_them_again():
    aws = FakeAws()
    running = aws.add_instances(1)
    stopped = aws.add_instances(1, state="stopped")
    seen = watched(aws)

    run = patch(aws, instance_ids=running + stopped, mode="install", start_stopped=True, pre_image=False)

    assert run.verdict() is None
    started = [marks for name, marks in seen if name == "start_instances"]
    stopped_again = [marks for name, marks in seen if name == "stop_instances"]
    assert started and all(value for value in started[0].values()) and all(value for value in stopped_again[0].values())
    installs = [marks for name, marks in seen if name == "send_command"]
    assert all(value is not None for marks in installs[1:] for value in marks.values())
    assert all(MAINTENANCE_TAG not in aws.instances[i]["tags"] for i in running + stopped)


def test_a_run_whose_policy_refuses_the_mark_goes_on_with_a_warning():
    aws = DeployAws()
    ids = aws.add_instances(2)

    def refused(**_request):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}, "CreateTags")
    original = aws.create_tags

    def create_tags(**request):
        if any(tag["Key"] == MAINTENANCE_TAG for tag in request["Tags"]):
            return refused(**request)
        return original(**request)
    aws.create_tags = create_tags
    untagged = []
    original_delete = aws.delete_tags

    def delete_tags(**request):
        untagged.extend(tag["Key"] for tag in request["Tags"])
        return original_delete(**request)
    aws.delete_tags = delete_tags

    run = deploy(aws, instance_ids=ids)

    # Nothing was tagged, so nothing is untagged.
    assert MAINTENANCE_TAG not in untagged
    assert run.verdict() is None and [aws.instances[i]["tags"].get("cloudops:deployed-version") for i in ids] == ["2.0", "2.0"]
    assert [warning for warning in run.warnings if MAINTENANCE_TAG in warning] == [
        "could not tag the instances cloudops:maintenance (An error occurred (UnauthorizedOperation) when calling the CreateTags "
        "operation: not authorized): cloudops.aws.instance_schedule may start or stop them during this run; allow ec2:CreateTags "
        "and ec2:DeleteTags of that tag key"]


def test_a_failed_rollout_clears_its_marks_too():
    aws = FakeAws()
    ids = aws.add_instances(2)
    aws.install_fails.add(ids[0])
    run = patch(aws, instance_ids=ids, mode="install", pre_image=False)
    assert run.verdict() and all(MAINTENANCE_TAG not in aws.instances[i]["tags"] for i in ids)


@pytest.mark.parametrize("mode", ["scan", "install"])
def test_patch_scan_and_check_mode_mark_nothing(mode):
    aws = FakeAws()
    ids = aws.add_instances(2)
    settings = patch_rollout_settings.PatchRolloutSettings.from_params(params(patch_rollout_settings.argument_spec(), instance_ids=ids,
                                                                              mode=mode, pre_image=False))
    clock = Clock()
    patch_rollout.PatchRollout(patch_rollout.Clients(aws, aws, aws, aws, aws), settings, NOW, check_mode=mode == "install",
                               sleep=clock.sleep, clock=clock).run()
    assert all(MAINTENANCE_TAG not in aws.instances[i]["tags"] for i in ids)
