"""No credential is ever printed, at -vvv, by any module of the collection or by a playbook that assumes a role.

One ansible-playbook -vvv run against the simulator, with a recognisable secret key and session token in
the environment (as AWX injects an AWS credential) and in module_defaults (as the playbooks pass assumed
credentials): every module under plugins/modules runs once, creating, refusing or failing on an AWS error;
then backup.yml assumes a role (aws_role_arn), as for a target account, and backs up with the temporary
credentials the simulator's STS issued. The whole output is searched for the secrets, and for the
temporary ones, which the run writes to a file (no_log) so the test knows them.

A new module is picked up: it runs in check mode with its required options given placeholder values.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO
from conftest import ansible_env

SECRET_KEY = "Cl0udopsTestSecretKey+DoNotPrint/0123456789ab"
SESSION_TOKEN = "Cl0udopsTestSessionToken//DoNotPrint" + "x" * 64
ACCESS_KEY = "AKIACLOUDOPSTESTKEY1"
DEMO_FLEET = REPO / "tests" / "simulator" / "fleets" / "demo.yml"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/none/0123456789abcdef/0123456789abcdef"

# Arguments that make each module reach AWS: create, or fail on AWS's answer.
MODULE_ARGS = {
    "ami_rotate": {"filters": {"tag:Backup": "daily"}, "policy": "secrets", "retention": {"keep_last": 1}},
    "snapshot_rotate": {"filters": {"tag:Data": "yes"}, "policy": "secrets", "retention": {"keep_last": 1}},
    "snapshot_copy_generations": {"source_region": "us-east-1", "region": "us-west-2", "policy": "secrets",
                                  "filters": {"tag:cloudops:policy": "secrets"}, "retention": {"keep_last": 1}, "wait": False},
    "orphan_snapshot_cleanup": {"min_age": "0s"},
    "ssm_run": {"targets": [{"key": "tag:Role", "values": ["web"]}], "commands": ["echo hello"], "timeout": 60},
    "patch_compliance_info": {"filters": {"tag:Role": "web"}},
    "patch_rollout": {"filters": {"tag:Role": "web"}, "mode": "scan"},
    "rolling_deploy": {"filters": {"tag:Role": "web"}, "version": "1.0", "deploy_commands": ["true"]},
    "alb_traffic_shift": {"listener_arn": LISTENER, "weights": {"blue": 100}},
    "blue_green_shift": {"listener_arn": LISTENER, "blue_target_group": "blue", "green_target_group": "green"},
    "instance_refresh": {"group_name": "web-asg", "image_id": "ami-00000000000000000"},
}
PLACEHOLDERS = {"str": "placeholder", "list": ["placeholder"], "dict": {}, "int": 1, "bool": False, "float": 1.0, "path": "/tmp", "raw": "placeholder"}


def modules():
    return sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")


def placeholder_args(module):
    """The module's required options, each with a value of its type, from its DOCUMENTATION."""
    tree = ast.parse((REPO / "plugins" / "modules" / (module + ".py")).read_text())
    documentation = next(node.value.value for node in tree.body
                         if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DOCUMENTATION")
    options = yaml.safe_load(documentation)["options"]
    return {name: option.get("choices", [PLACEHOLDERS[option.get("type", "str")]])[0] if option.get("choices")
            else PLACEHOLDERS[option.get("type", "str")] for name, option in options.items() if option.get("required")}


def module_tasks():
    """One task per module, each for its own inventory host (module-<name>): with the free strategy and a fork per
    host, the modules run side by side."""
    tasks = []
    for module in modules():
        known = module in MODULE_ARGS
        tasks.append({"name": "run %s" % module, "cloudops.aws.%s" % module: MODULE_ARGS.get(module) or placeholder_args(module),
                      "when": "inventory_hostname == 'module-%s'" % module,
                      "check_mode": not known, "ignore_errors": True, "timeout": 120})
    return tasks


def test_no_module_or_role_assumption_prints_a_secret_at_vvv(sim, tmp_path):
    sim.seed(yaml.safe_load(DEMO_FLEET.read_text()))
    temporary = tmp_path / "assumed.json"
    playbook = [
        {"name": "every module with the credential in module_defaults", "hosts": "modules", "strategy": "free", "gather_facts": False,
         "module_defaults": {"group/cloudops.aws.aws": {"region": "us-east-1", "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
                                                        "session_token": SESSION_TOKEN}},
         "tasks": module_tasks()},
        {"ansible.builtin.import_playbook": "cloudops.aws.backup"},
        {"name": "keep the temporary credentials for the test", "hosts": "aws_targets", "gather_facts": False, "tasks": [
            {"name": "write them", "no_log": True, "delegate_to": "localhost", "ansible.builtin.copy": {
                "dest": str(temporary), "mode": "0600", "content": "{{ cloudops_assumed_role.sts_creds | to_json }}"}}]},
    ]
    path = tmp_path / "secrets.yml"
    path.write_text(yaml.safe_dump(playbook))
    inventory = tmp_path / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": local}},
                                         "modules": {"hosts": {"module-" + module: local for module in modules()}},
                                         "aws_targets": {"hosts": {"target-account": {
                                             "aws_region": "us-east-1", "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                             "aws_role_arn": "arn:aws:iam::123456789012:role/cloudops-backup"}}}}))
    env = ansible_env(sim)
    env.pop("ANSIBLE_STDOUT_CALLBACK")
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_SESSION_TOKEN=SESSION_TOKEN)

    # backup.yml with the orphan cleanup only (ami_rotate ran above): the step that uses the assumed credentials.
    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", str(inventory), str(path),
                          "--forks", str(len(modules()) + 1), "-e", '{"backup_amis": false, "backup_orphan_min_age": "0s"}'],
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    output = run.stdout + run.stderr

    assert run.returncode == 0, output[-5000:]
    for module in modules():
        assert "TASK [run %s]" % module in output
    assert "TASK [Delete snapshots left behind by deregistered AMIs]" in output
    assumed = json.loads(temporary.read_text())
    assert assumed["secret_key"] and assumed["session_token"] and assumed["secret_key"] != SECRET_KEY
    for secret in (SECRET_KEY, SESSION_TOKEN, assumed["secret_key"], assumed["session_token"]):
        assert secret not in output, "printed at -vvv: %s..." % secret[:12]
