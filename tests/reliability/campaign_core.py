"""What every module's fault campaign shares: the World a scenario runs in, the generic fault
scenarios, the run-then-repair-then-check loop and the table.

A campaign (ami_campaign.py, ...) subclasses World for its module: `seed()` builds the account,
`task_args()` gives the module's options, `observe()` remembers what the module made, and
`violations()` checks the invariants on the AWS state. Scenarios are functions of the World;
run_scenario() runs one under faults, then a calm repair run, then the checks.
"""

import random
import time

import boto3

from module_runs import RunClock
from module_runs import finish_module_process
from module_runs import kill_module_process
from module_runs import run_module
from module_runs import start_module_process


def tags_of(resource):
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def ec2_client(sim, region="us-east-1"):
    return boto3.client("ec2", endpoint_url=sim.endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def wait_until(done, timeout=30, interval=0.5):
    """Whether done() became true within timeout seconds, asked every interval."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(interval)
    return False


class World:
    """One scenario's simulated account and the counters of what happened to it."""

    MODULE = None
    INVARIANTS = ()
    # EC2's buckets shrunk so a small fleet drains them (throttling_storm); campaigns add their deleting actions.
    THROTTLE_BUCKETS = {
        "mutating": {"size": 3, "refill_per_second": 2},
        "non_mutating": {"size": 6, "refill_per_second": 3},
    }

    def __init__(self, sim, rng, faulty_runs=1):
        self.sim = sim
        self.faulty_runs = faulty_runs
        self.rng = rng
        self.ec2 = ec2_client(sim)
        self.runs = 0
        self.failed_runs = 0
        self.kills = 0
        # Faults that are not simulator fault rules (a resource made to fail, one left pending), counted by scenarios.
        self.other_faults = 0
        self.clock = RunClock()

    # -- for the campaign to define --------------------------------------------------------

    def seed(self):
        raise NotImplementedError

    def task_args(self, **extra):
        raise NotImplementedError

    def violations(self):
        """{invariant: [what is wrong]} on the AWS state now."""
        raise NotImplementedError

    def observe(self):
        """Remember what the module made so far (called after every run); nothing by default."""

    def wait_settled(self, timeout=30):
        """Until nothing the module made is still in progress; nothing to wait for by default."""

    # -- running the module ----------------------------------------------------------------

    def ended(self, result):
        self.clock.mark_ended()
        if result.get("failed"):
            self.failed_runs += 1
        self.observe()
        return result

    def run(self, **extra):
        self.clock.wait_for_next_second()
        self.runs += 1
        return self.ended(run_module(self.sim, self.MODULE, self.task_args(**extra)))

    def start(self, **extra):
        """The module in a process of its own, for scenarios that kill it or act while it runs."""
        self.clock.wait_for_next_second()
        self.runs += 1
        return start_module_process(self.sim, self.MODULE, self.task_args(**extra))

    def finish(self, process, timeout=300):
        return self.ended(finish_module_process(process, timeout))

    def run_overlapping(self, stagger, **extra):
        """Two runs started `stagger` seconds apart, as two AWX jobs of one template; both results."""
        first = self.start(**extra)
        time.sleep(stagger)
        second = self.start(**extra)
        return [self.finish(first), self.finish(second)]

    def kill(self, process):
        kill_module_process(process)
        self.clock.mark_ended()
        self.kills += 1
        self.observe()

    def wait_for_calls(self, action, count=1, timeout=60):
        return wait_until(lambda: len([c for c in self.sim.calls(action=action) if c["status"] == 200]) >= count, timeout, interval=0.1)

    # -- after the scenario ----------------------------------------------------------------

    def calm(self):
        self.sim.clear_faults()
        self.sim.configure(latency={"default": 0.0, "actions": {a: None for a in self.sim.config()["latency"]["actions"]}},
                           throttling={"enabled": False}, ami_available_after=0, snapshot_completed_after=0)

    def faults_injected(self):
        rules = self.sim.faults()
        fired = sum(rule["fired"] for rule in rules)
        injected_throttles = sum(rule["fired"] for rule in rules if rule["code"] == "RequestLimitExceeded")
        throttled = len([c for c in self.sim.calls() if c["error_code"] == "RequestLimitExceeded"]) - injected_throttles
        return fired + throttled + self.kills + self.other_faults


# -- scenarios any campaign can use ----------------------------------------------------------
# Each takes the World, injects its faults and runs the module one or more times. The calm
# repair run and the checks come after, in run_scenario().


def throttling_storm(world):
    world.sim.configure(throttling={"enabled": True, "buckets": world.THROTTLE_BUCKETS})
    world.sim.add_fault(action="*", code="RequestLimitExceeded", probability=world.rng.uniform(0.1, 0.3), count=None)
    for _run in range(world.faulty_runs):
        world.run()


def server_errors(world):
    # One certain fault first: a module whose run makes a dozen calls could otherwise draw none (the
    # simulator draws each call's fault on its own), and the scenario would test nothing.
    world.sim.add_fault(action="*", code="InternalError", count=1)
    world.sim.add_fault(action="*", code="InternalError", probability=world.rng.uniform(0.1, 0.2), count=None)
    world.sim.add_fault(action="*", code="Unavailable", probability=world.rng.uniform(0.05, 0.15), count=None)
    for _run in range(world.faulty_runs):
        world.run()


# Retries absorb these faults: the runs under them must succeed, not only be repaired afterwards.
throttling_storm.runs_succeed = True
server_errors.runs_succeed = True


def lost_responses(action):
    """AWS acts on `action` but the client gets a 5xx, one to three times."""
    def scenario(world):
        code = world.rng.choice(["InternalError", "Unavailable"])
        world.sim.add_fault(action=action, code=code, after=True, count=world.rng.randint(1, 3))
        world.run()
    scenario.__name__ = "lost_%s" % action
    scenario.runs_succeed = True
    return scenario


def killed_mid(action, **extra):
    """The run killed after one to three `action` calls, each slow and one at a time."""
    def scenario(world):
        world.sim.configure(latency={"actions": {action: 1}})
        process = world.start(max_concurrency=1, **extra)
        world.wait_for_calls(action, count=world.rng.randint(1, 3))
        world.kill(process)
        time.sleep(1.2)  # the stalled call still completes at AWS: let it land before the repair run
    scenario.__name__ = "killed_mid_%s" % action
    return scenario


def fail_one_while_running(world, pending_ids, fail):
    """A run during which one resource it made is made to fail while the run waits for it.

    pending_ids() lists the pending resources of the module; fail(resource_id) marks one to end failed.
    """
    before = set(pending_ids())
    process = world.start()
    new = []

    def made():
        new[:] = sorted(set(pending_ids()) - before)
        return bool(new)

    if wait_until(made, timeout=60, interval=0.1):
        fail(world.rng.choice(new))
        world.other_faults += 1
    return world.finish(process)


def killed_at_random(world):
    # Every call slowed a little so the run is long enough to be cut anywhere; the moment is drawn from
    # the run's first call, not from the process start (an import of boto3 and no AWS call yet).
    world.sim.configure(latency={"default": 0.1})
    calls_before = len(world.sim.calls())
    process = world.start()
    wait_until(lambda: len(world.sim.calls()) > calls_before or process.poll() is not None, timeout=60, interval=0.05)
    time.sleep(world.rng.uniform(0.0, 2.0))
    if process.poll() is None:
        world.kill(process)
    else:
        world.finish(process)
    time.sleep(0.2)


# -- the loop and the table -------------------------------------------------------------------


def run_scenario(world_class, sim, scenario, rng, faulty_runs=1):
    """One row of the table: the scenario under faults, a calm repair run, the invariants."""
    world = world_class(sim, rng, faulty_runs)
    world.seed()
    scenario(world)
    faults = world.faults_injected()
    world.calm()
    world.wait_settled()
    world.observe()
    repair = world.run()
    return {
        "scenario": scenario.__name__,
        "runs_succeed": getattr(scenario, "runs_succeed", False),
        "faults": faults,
        "runs": world.runs,
        "failed_runs": world.failed_runs,
        "kills": world.kills,
        "repair_failed": bool(repair.get("failed")),
        "repair_msg": repair.get("msg", ""),
        "violations": world.violations(),
    }


def format_table(rows):
    header = ["scenario", "faults injected", "runs", "failed runs", "killed", "invariant violations"]
    lines = [header] + [[row["scenario"], str(row["faults"]), str(row["runs"]), str(row["failed_runs"]), str(row["kills"]),
                         str(sum(len(v) for v in row["violations"].values()))] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)) for line in lines]
    for row in rows:
        for name, problems in row["violations"].items():
            text += ["  %s: %s: %s" % (row["scenario"], name, problem) for problem in problems]
    return "\n".join(text)


def new_rng(seed=None):
    return random.Random(seed)
