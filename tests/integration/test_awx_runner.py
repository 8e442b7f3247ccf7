"""playbooks/backup.yml run the way AWX runs a job: through ansible-runner, with a private data directory
(env/envvars with the credential's environment, env/extravars from the job template and its survey,
env/settings, inventory, project), against the simulator. The artifacts are read back as AWX reads
them: status, rc, and the playbook_on_stats event with the per-host counts and the set_stats data
(artifact_data) that a workflow hands to its next node.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from aws_state import images_by_instance
from aws_state import mutating_calls
from awx_surveys import TEMPLATES
from awx_surveys import job_variables
from conftest import COLLECTIONS
from conftest import REPO

BIN = Path(sys.executable).parent
TARGET = "simulator-us-east-1"
DEMO_FLEET = REPO / "tests" / "simulator" / "fleets" / "demo.yml"


def private_data_dir(root, sim, extravars):
    """A private data directory as AWX writes it for a job: the AWS credential and the collection path in
    env/envvars, the job's variables in env/extravars, the inventory, and the project checkout."""
    (root / "env").mkdir(parents=True)
    envvars = dict(sim.env, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_LOCALHOST_WARNING="false")
    (root / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (root / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (root / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": 300, "suppress_ansible_output": True}))
    (root / "inventory").mkdir()
    shutil.copy(REPO / "inventories" / "simulator" / "hosts.yml", root / "inventory" / "hosts.yml")
    (root / "project").symlink_to(REPO)
    return root


def run_job(root, ident):
    """(status, rc, the playbook_on_stats event's data) of `ansible-runner run` on the private data directory."""
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    for name in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_STDOUT_CALLBACK"):
        env.pop(name, None)  # only what the private data directory gives
    finished = subprocess.run([str(BIN / "ansible-runner"), "run", str(root), "-p", "playbooks/backup.yml", "--ident", ident],
                              env=env, capture_output=True, text=True, timeout=360, check=False)
    artifacts = root / "artifacts" / ident
    assert (artifacts / "status").is_file(), finished.stdout + finished.stderr
    events = [json.loads(path.read_text()) for path in sorted((artifacts / "job_events").glob("*.json"))]
    stats = [event["event_data"] for event in events if event.get("event") == "playbook_on_stats"]
    assert len(stats) == 1, (artifacts / "stdout").read_text()
    return (artifacts / "status").read_text(), int((artifacts / "rc").read_text()), stats[0], (artifacts / "stdout").read_text()


def test_backup_job_through_ansible_runner_leaves_status_rc_host_stats_and_set_stats(sim, ec2, tmp_path):
    instances = sim.seed(yaml.safe_load(DEMO_FLEET.read_text()))["instances"]
    tagged = {instance_id for name, instance_id in instances.items() if name != "db-old"}
    # The backup job template launched with its survey's defaults.
    extravars, refusals = job_variables(TEMPLATES["backup"], {})
    assert not refusals and extravars["ami_backup_policy"] == "daily"

    status, rc, stats, stdout = run_job(private_data_dir(tmp_path / "ok", sim, extravars), "backup")

    assert (status, rc) == ("successful", 0), stdout
    assert stats["failures"] == {} and stats["dark"] == {} and stats["changed"][TARGET] >= 1 and stats["ok"][TARGET] >= 1
    images = images_by_instance(ec2, "daily")
    assert set(images) == tagged and all(len(made) == 1 for made in images.values())
    published = stats["artifact_data"]
    key = TARGET + "/daily"
    assert sorted(published["ami_backup_images_created"][key]) == sorted(made[0]["ImageId"] for made in images.values())
    assert published["ami_backup_totals"] == {key: {"created": len(tagged), "deregistered": 0, "snapshots_deleted": 0, "retained": len(tagged),
                                                    "protected": 0, "skipped": 0, "failures": 0}}
    assert published["ami_backup_failed_targets"] == []
    assert published["backup_orphans_deleted"] == {TARGET: {"snapshots": 0, "gib_freed": 0}}
    assert published["backup_completed_targets"] == [TARGET]

    # A refused input: the job fails, AWS is left as it was, and the stats say which target failed.
    sim.clear_log()
    extravars["ami_backup_min_interval"] = "20 hours"  # a survey answer ami_rotate refuses
    status, rc, stats, stdout = run_job(private_data_dir(tmp_path / "refused", sim, extravars), "refused")

    assert (status, rc) == ("failed", 2), stdout
    assert stats["failures"] == {TARGET: 1}
    assert "ami_backup_min_interval: " in stdout and "20 hours" in stdout
    assert stats["artifact_data"]["ami_backup_failed_targets"] == [key]
    assert "backup_completed_targets" not in stats["artifact_data"]
    assert mutating_calls(sim) == []
    assert images_by_instance(ec2, "daily") == images
