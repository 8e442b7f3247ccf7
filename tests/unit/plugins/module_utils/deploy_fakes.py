"""An in-memory account for rolling_deploy's unit tests: patching_fakes' EC2, SSM and ELBv2, with machines that run
rolling_deploy's shell commands, told apart by their comment (deploy, health, rollback, version).

A machine runs `versions[id]` (None: nothing yet). A deploy installs $DEPLOY_VERSION and keeps the one before for a
rollback. Scripted:
- `deploy_fails`: the deploy of these instances exits 1 and changes nothing;
- `bad_versions`: a deploy of one of these versions succeeds and breaks the instance (its health command fails,
  its targets register unhealthy), as a rollback mends it;
- `killed_at_deploy`: the run dies (an exception) once that many deploys are sent, as when it is killed.
"""

import shlex

from botocore.exceptions import ClientError
from patching_fakes import FakeAws


class DeployAws(FakeAws):
    def __init__(self):
        super().__init__()
        self.versions = {}
        self.previous = {}
        self.deploy_fails = set()
        self.bad_versions = set()
        self.killed_at_deploy = None
        self.ip_groups = set()

    def sent_steps(self):
        """The step of each shell command sent, in order."""
        return [request["Comment"].split()[2] for request in self.sent]

    # -- ELBv2: target groups by name, and groups of IP addresses ----------------------------------

    def describe_target_groups(self, aws_retry, Names=None, Marker=None):
        groups = [{"TargetGroupArn": arn, "TargetGroupName": arn.split("/")[1], "TargetType": "ip" if arn in self.ip_groups else "instance"}
                  for arn in sorted(self.groups)]
        if Names is None:
            return {"TargetGroups": groups}
        found = [group for group in groups if group["TargetGroupName"] in Names]
        if len(found) < len(Names):
            raise ClientError({"Error": {"Code": "TargetGroupNotFound", "Message": "One or more target groups not found"}}, "DescribeTargetGroups")
        return {"TargetGroups": found}

    # -- SSM: the machines ---------------------------------------------------------------------------

    def send_command(self, **request):
        answer = super().send_command(**request)
        if self.sent_steps().count("deploy") == self.killed_at_deploy:
            raise KeyboardInterrupt("killed")
        return answer

    def _invoke(self, command_id, i, request):
        lines = request["Parameters"]["commands"]
        step = request["Comment"].split()[2]
        version = shlex.split(lines[0].partition("=")[2])[0]
        self.events.append((step, i))
        failed, output = False, ""
        if step == "deploy" and i in self.deploy_fails:
            failed = True
        elif step == "deploy":
            self.previous[i], self.versions[i] = self.versions.get(i), version
            (self.broken.add if version in self.bad_versions else self.broken.discard)(i)
        elif step == "rollback":
            self.versions[i] = self.previous.get(i)
            self.broken.discard(i)
        elif step == "health":
            failed = i in self.broken
        elif step == "version":
            failed = self.versions.get(i) is None
            output = "%s\n" % self.versions.get(i)
        return {"CommandId": command_id, "InstanceId": i, "Status": "Failed" if failed else "Success",
                "StatusDetails": "Failed" if failed else "Success",
                "CommandPlugins": [{"ResponseCode": 1 if failed else 0,
                                    "Output": "%s\n----------ERROR-------\nexit status 1" % output if failed else output}]}
