"""Workload 3: one shell command on N instances, and every instance's output back.

- cloudops: one `cloudops.aws.ssm_run` task targeting the instances' tag (one SendCommand for all,
  the invocations read a page at a time).
- amazon.aws: amazon.aws has no Run Command module. What users write instead is a play over the
  instances as inventory hosts with the `amazon.aws.aws_ssm` connection and a `command` task: the
  connection plugin is the one amazon.aws documents for running tasks on instances without SSH,
  and an inventory of instances is how Ansible runs a task on many hosts (a loop of `aws ssm
  send-command` shell tasks is the other pattern, a script in YAML). The simulator has no Session
  Manager data channel (the websocket behind StartSession that the session-manager-plugin
  speaks), so this benchmark runs that play with the `local` connection instead: every host
  costs what Ansible itself costs per host (the host loop over 5 forks, the module's transfer and
  start) and nothing of SSM. It is a floor: on AWS each host adds a StartSession, the
  session-manager-plugin process, an S3 upload of the module and several round trips through the
  session, and the TerminateSession.
"""

import subprocess

COMMAND = "uname -sr"
# The command itself takes no measurable time; the bound is the calls' latency.
COMMAND_SECONDS = 0.0
SELECT = {"key": "tag:Role", "values": ["bench"]}


def seed(sim, count):
    """N running instances tagged Role=bench, each an SSM managed node; [instance ids]."""
    sim.reset()
    names = sim.seed({"region": "us-east-1", "instances": [{"name": "bench", "count": count, "tags": {"Role": "bench"}}]})["instances"]
    return sorted(names.values())


def plays(way, instance_ids):
    """(plays, inventory, extra environment) of one way."""
    if way == "cloudops":
        return [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
            {"name": "ssm_run", "cloudops.aws.ssm_run": {"targets": [SELECT], "commands": [COMMAND], "comment": "bench"}},
        ]}], "localhost,", None
    # What users write is `connection: amazon.aws.aws_ssm`; `local` stands in for it (see above).
    return [{"hosts": "all", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "command", "ansible.builtin.command": COMMAND, "changed_when": False},
    ]}], ",".join(instance_ids) + ",", None


def outputs(way, report):
    """{instance id: stdout} from the JSON callback's report of a run."""
    task = report["plays"][0]["tasks"][0] if report else {"hosts": {}}
    if way == "cloudops":
        result = task["hosts"].get("localhost", {})
        return {item["instance_id"]: item["stdout"].strip() for item in result.get("invocations", []) if item["status"] == "Success"}
    return {host: result.get("stdout", "").strip() for host, result in task["hosts"].items() if result.get("rc") == 0}


def end_state(sim, instance_ids, way=None, report=None):
    found = outputs(way, report)
    return {instance_id: found.get(instance_id) for instance_id in instance_ids}


def expected_state(instance_ids):
    expected = subprocess.run(COMMAND.split(), capture_output=True, text=True, check=True).stdout.strip()
    return {instance_id: expected for instance_id in instance_ids}


def minimum_calls(count):
    """One SendCommand for the tag (SSM finds the instances), the invocations read 50 a page."""
    return {"SendCommand": 1, "ListCommandInvocations": -(-count // 50)}
