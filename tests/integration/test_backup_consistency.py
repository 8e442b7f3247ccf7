"""Application-consistent backups: the ami_backup and snapshot_backup roles run pre-backup commands through SSM before
the backup and post-backup commands after it, whatever happened, through ansible-playbook against the simulator.

The commands write into each instance's SSM sandbox, which the test reads back with the images' and snapshots'
consistency tags: which instances were frozen, thawed, backed up, and how consistent each backup is.
"""

import json
from pathlib import Path

from aws_state import managed_images
from aws_state import tags_of
from conftest import run_play

# Each pre-backup command freezes (a file), and fails where the instance holds `refuse`, or outlasts its timeout where
# it holds `slow`; each post-backup command thaws and counts its runs.
PRE = ["echo frozen > state", "if [ -f refuse ]; then echo 'database refused to freeze' >&2; exit 4; fi", "if [ -f slow ]; then sleep 20; fi"]
POST = ["echo thawed > state", "echo thawed >> thaw.log"]


def sandbox(sim, instance_id):
    return Path(sim.ssm_commands()["sandbox_root"]) / "instances" / instance_id


def shell(ssm, instance_id, line):
    """Run a line on an instance of the fleet and wait for it (test set-up, not under test)."""
    command_id = ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": [line]})["Command"]["CommandId"]
    ssm.get_waiter("command_executed").wait(CommandId=command_id, InstanceId=instance_id, WaiterConfig={"Delay": 0.2})


def play(images_vars, snapshots_vars):
    return [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "module_defaults": {"group/cloudops.aws.aws": {"region": "us-east-1"}},
        "tasks": [
            {"name": "AMIs", "block": [{"name": "Role", "ansible.builtin.include_role": {"name": "cloudops.aws.ami_backup"}, "vars": images_vars}],
             "rescue": [{"name": "AMI backup failed", "ansible.builtin.set_fact": {"ami_failure": "{{ ansible_failed_result.msg }}"}}]},
            {"name": "Snapshots", "ansible.builtin.include_role": {"name": "cloudops.aws.snapshot_backup"}, "vars": snapshots_vars},
        ],
    }]


def test_pre_and_post_backup_commands_decide_and_tag_the_consistency_and_always_thaw(sim, ec2, ssm):
    app = sim.seed({"instances": [{"name": "app", "count": 4, "tags": {"Backup": "daily"},
                                   "volumes": [{"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 20}]}]})["instances"]
    shell(ssm, app["app-2"], "touch refuse")
    shell(ssm, app["app-3"], "touch slow")
    sim.clear_log()
    # app-4's image cannot be made: the backup fails after its pre-backup commands succeeded.
    sim.add_fault(action="CreateImage", code="IncorrectInstanceState", match=app["app-4"], status=400)
    around = {"pre_backup_commands": PRE, "pre_backup_timeout": 2, "post_backup_commands": POST, "min_interval": ""}
    images_vars = {"ami_backup_" + key: value for key, value in around.items()}
    images_vars["ami_backup_instance_ids"] = sorted(app.values())
    snapshots_vars = {"snapshot_backup_" + key: value for key, value in around.items()}
    snapshots_vars.update(snapshot_backup_filters={"tag:Name": ["app-1:/dev/sdf", "app-2:/dev/sdf"]}, snapshot_backup_backup_on_pre_failure=True)

    stdout, stderr = run_play(sim, play(images_vars, snapshots_vars), env={"ANSIBLE_SHOW_CUSTOM_STATS": "true"})

    output = json.loads(stdout)
    tasks = {task["task"]["name"]: task["hosts"]["localhost"] for task in output["plays"][0]["tasks"]}
    assert output["stats"]["localhost"]["failures"] == 0, stderr

    # AMIs: app-1 only, application-consistent; app-2 (refused) and app-3 (timed out) not backed up; app-4's failed.
    images = {tags_of(image)["cloudops:source-instance"]: tags_of(image) for image in managed_images(ec2, "daily")}
    assert sorted(images) == [app["app-1"]] and images[app["app-1"]]["cloudops:consistency"] == "application"
    failure = tasks["AMI backup failed"]["ansible_facts"]["ami_failure"]
    assert "ami_rotate failed for 1 instance(s): %s: CreateImage" % app["app-4"] in failure
    assert "not backed up, as their pre-backup commands failed: %s" % ", ".join(sorted([app["app-2"], app["app-3"]])) in failure

    # Snapshots of the two selected volumes: app-1's application-consistent, app-2's crash-consistent (backup_on_pre_failure).
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": ["cloudops:source-volume"]}])["Snapshots"]
    consistency = {tags_of(s)["cloudops:source-instance"]: tags_of(s)["cloudops:consistency"] for s in snapshots}
    assert consistency == {app["app-1"]: "application", app["app-2"]: "crash"}
    stats = output["global_custom_stats"]
    report = stats["snapshot_backup_consistency"]["localhost/daily"]
    assert report["application"] == [app["app-1"]] and list(report["crash"]) == [app["app-2"]]
    assert report["crash"][app["app-2"]].startswith("Failed (exit code 4)") and report["not_backed_up"] == {}
    ami_report = stats["ami_backup_consistency"]["localhost/daily"]
    assert ami_report["not_backed_up"][app["app-3"]].startswith("ExecutionTimedOut")

    # Post-backup commands ran on every instance each role froze, also after a refused, timed-out or failed backup.
    thawed = {name: (sandbox(sim, instance_id) / "thaw.log").read_text().count("thawed") for name, instance_id in app.items()}
    assert thawed == {"app-1": 2, "app-2": 2, "app-3": 1, "app-4": 1}
    assert {name: (sandbox(sim, instance_id) / "state").read_text() for name, instance_id in app.items()} == dict.fromkeys(app, "thawed\n")

    # The application is frozen only around the create calls: each role's post-backup commands follow them at once.
    order = [call["action"] for call in sim.calls() if call["action"] in ("SendCommand", "CreateImage", "CreateSnapshot", "CreateSnapshots")]
    assert order == ["SendCommand", "CreateImage", "CreateImage", "SendCommand", "SendCommand", "CreateSnapshot", "CreateSnapshot", "SendCommand"]
