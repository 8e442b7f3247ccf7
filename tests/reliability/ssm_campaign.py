"""The ssm_run fault campaign: its world, its own scenarios and the invariants checked after each.

Every scenario starts from a fresh simulated account with a fleet of managed instances, one
whose agent is offline and one SSM does not manage, all selected by one tag. Each run of
cloudops.aws.ssm_run (skip_unmanaged) sends a script that appends the run's token to a file
in the instance's sandbox directory (the simulator runs AWS-RunShellScript with bash there),
so the campaign counts how many times each instance really ran each run's command. After the
runs under faults comes one calm run (the next scheduled run: ssm_run has nothing to repair)
and the checks:

- once:   every command SSM received ran exactly once on every online instance: a retried
          SendCommand whose first answer was lost must not run it twice;
- never:  nothing ran on the offline or the unmanaged instance;
- agree:  every result the module returned says what really happened on each instance, and a
          run that succeeded (the calm one too) ran on every online instance.

The generic scenarios and the run-repair-check loop are in campaign_core.py.
"""

import time
from pathlib import Path

import campaign_core
from campaign_core import killed_at_random
from campaign_core import lost_responses
from campaign_core import server_errors
from campaign_core import throttling_storm
from conftest import aws_client

ROLE = "campaign"
FLEET = {"region": "us-east-1", "instances": [{"name": "node", "count": 6, "tags": {"Role": ROLE}}]}
LOG = "ran.log"
# Files a scenario leaves in one instance's sandbox to make its next invocation fail or run long.
FAIL, DELAY = "fail", "delay"
FAIL_CODE = 3
# An offline instance's invocation waits for its agent until the delivery timeout: capped so a killed run settles soon.
DELIVERY_TIMEOUT = 3


class SsmWorld(campaign_core.World):
    """One scenario's fleet, the token of every run, and every result the module returned."""

    MODULE = "cloudops.aws.ssm_run"
    INVARIANTS = ("once", "never", "agree")

    def __init__(self, sim, rng, faulty_runs=1):
        super().__init__(sim, rng, faulty_runs)
        self.ssm = aws_client(sim, "ssm")
        self.online = []
        self.offline = None
        self.unmanaged = None
        self.sandboxes = None
        self.tokens = []
        self.results = []  # (token, result) of every run that returned one

    # -- set-up ----------------------------------------------------------------------------

    def seed(self):
        sim = self.sim
        sim.reset()
        sim.configure(ssm={"delivery_timeout_cap": DELIVERY_TIMEOUT})
        instances = sorted(sim.seed(FLEET)["instances"].values())
        self.offline, self.unmanaged, self.online = instances[0], instances[1], instances[2:]
        sim.ssm_mark([self.offline], offline=True)
        sim.ssm_mark([self.unmanaged], unmanaged=True)
        self.sandboxes = Path(sim.ssm_commands()["sandbox_root"]) / "instances"
        sim.clear_log()
        sim.clear_faults()

    def sandbox(self, instance_id):
        path = self.sandboxes / instance_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def leave(self, instance_id, name, text=""):
        (self.sandbox(instance_id) / name).write_text(text)

    def clear_left(self):
        for instance_id in self.online:
            for name in (FAIL, DELAY):
                (self.sandbox(instance_id) / name).unlink(missing_ok=True)

    # -- running the module ----------------------------------------------------------------

    def task_args(self, **extra):
        token = "run-%d" % (len(self.tokens) + 1)
        self.tokens.append(token)
        args = {
            "targets": [{"key": "tag:Role", "values": [ROLE]}],
            "commands": [
                "echo %s >> %s" % (token, LOG),
                "echo ran %s on $AWS_SSM_INSTANCE_ID" % token,
                "[ ! -e %s ] || sleep \"$(cat %s)\"" % (DELAY, DELAY),
                "[ ! -e %s ] || exit %d" % (FAIL, FAIL_CODE),
            ],
            "comment": "fault campaign",
            "skip_unmanaged": True,
            "wait_timeout": 120,
        }
        args.update(extra)
        return args

    def run(self, **extra):
        result = super().run(**extra)
        self.results.append((self.tokens[-1], result))
        return result

    def finish(self, process, timeout=300):
        result = super().finish(process, timeout)
        self.results.append((self.tokens[-1], result))
        return result

    def commands(self):
        return [command for page in self.ssm.get_paginator("list_commands").paginate() for command in page["Commands"]]

    def wait_settled(self, timeout=30):
        """Until every command SSM holds is done: a killed run's invocations go on without it."""
        campaign_core.wait_until(lambda: all(c["Status"] not in ("Pending", "InProgress", "Cancelling") for c in self.commands()), timeout)

    # -- the checks ------------------------------------------------------------------------

    def ran(self, instance_id):
        """{token: times} the instance ran each run's command."""
        log = self.sandboxes / instance_id / LOG
        lines = log.read_text().split() if log.exists() else []
        return {token: lines.count(token) for token in set(lines)}

    def violations(self):
        found = {name: [] for name in self.INVARIANTS}
        ran = {instance_id: self.ran(instance_id) for instance_id in self.online + [self.offline, self.unmanaged]}
        sent = {token for command in self.commands() for token in self.tokens
                if "echo %s >>" % token in " ".join(command["Parameters"]["commands"])}
        for token in self.tokens:
            expected = 1 if token in sent else 0
            found["once"] += ["%s ran %s %d time(s), expected %d" % (instance_id, token, ran[instance_id].get(token, 0), expected)
                              for instance_id in self.online if ran[instance_id].get(token, 0) != expected]
        found["never"] += ["%s (%s) ran %s" % (instance_id, why, ", ".join(sorted(ran[instance_id])))
                           for instance_id, why in ((self.offline, "offline"), (self.unmanaged, "unmanaged")) if ran[instance_id]]
        for token, result in self.results:
            found["agree"] += self.disagreements(token, result, ran)
        return found

    def disagreements(self, token, result, ran):
        problems = []
        invocations = {i["instance_id"]: i for i in result.get("invocations", [])}
        if not result.get("failed") and sorted(i for i, v in invocations.items() if v["status"] == "Success") != self.online:
            problems.append("%s succeeded with Success on %s, not on every online instance" % (token, sorted(invocations)))
        for instance_id, invocation in sorted(invocations.items()):
            times = ran.get(instance_id, {}).get(token, 0)
            status, details = invocation["status"], invocation["status_details"]
            if instance_id == self.offline:
                # Its agent never picks the command up: the module cancels it, or its delivery times out first.
                if details not in ("Cancelled", "DeliveryTimedOut"):
                    problems.append("%s on the offline %s: %s" % (token, instance_id, details))
            elif status == "Success" and (times != 1 or invocation["stdout"] != "ran %s on %s\n" % (token, instance_id)):
                problems.append("%s on %s: Success with stdout %r, ran %d time(s)" % (token, instance_id, invocation["stdout"], times))
            elif status not in ("Success", "Failed", "TimedOut") or times != 1:
                problems.append("%s on %s: %s (exit code %s), ran %d time(s)" % (token, instance_id, details, invocation["response_code"], times))
        skipped = sorted(item["instance_id"] for item in result.get("instances_skipped", []))
        if invocations and skipped != sorted([self.offline, self.unmanaged]):
            problems.append("%s skipped %s, not the offline and the unmanaged instance" % (token, skipped))
        return problems


# -- the scenarios of ssm_run only (the generic ones are in campaign_core) -------------------


def hitting_send_command(storm, code):
    """A generic storm that hits SendCommand at least once: one run makes five calls or so, which the storm's
    per-call chance can all miss, and SendCommand is the call that must never run the script twice."""
    def scenario(world):
        world.sim.add_fault(action="SendCommand", code=code, count=1)
        storm(world)
    scenario.__name__ = storm.__name__
    scenario.runs_succeed = storm.runs_succeed
    return scenario


def one_instance_failing(world):
    """The script exits non-zero on one instance: reported there, run everywhere else."""
    world.leave(world.rng.choice(world.online), FAIL)
    world.other_faults += 1
    world.run()
    world.clear_left()


def invocation_timed_out(world):
    """The script runs past execution_timeout on one instance and is stopped there."""
    world.leave(world.rng.choice(world.online), DELAY, "30")
    world.other_faults += 1
    world.run(execution_timeout=2)
    world.clear_left()


def killed_mid_wait(world):
    """The run killed while it waits for the invocations, which go on without it."""
    for instance_id in world.online:
        world.leave(instance_id, DELAY, "2")
    process = world.start()
    world.wait_for_calls("SendCommand")
    time.sleep(world.rng.uniform(0.2, 1.5))
    world.kill(process)
    world.clear_left()


SCENARIOS = [
    hitting_send_command(throttling_storm, "ThrottlingException"),
    hitting_send_command(server_errors, "InternalServerError"),
    lost_responses("SendCommand"),
    one_instance_failing,
    invocation_timed_out,
    killed_mid_wait,
    killed_at_random,
]

WORLD = SsmWorld
