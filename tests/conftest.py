"""Fixtures shared by the unit, integration and benchmark tests.

One simulator serves the whole session (under pytest-xdist, one per worker, each on a free
port); every test starts from a reset world.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import pytest
import yaml

from module_runs import RunClock
from module_runs import run_module
from simulator.client import running_simulator

REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = REPO / "build" / "collections"


# Seconds new AMIs and snapshots stay pending in tests marked `pending`. Unmarked tests get them
# available at once: the modules poll first 2 s after creating (module_utils/waiting.py), so a
# pending state costs every creating run those 2 s, for tests whose subject is not the waiting.
PENDING_SECONDS = 0.5


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "pending(seconds=%s): new AMIs and snapshots stay pending that long, so the modules wait for them" % PENDING_SECONDS)


@pytest.fixture(scope="session")
def simulator_server():
    with running_simulator() as server:
        yield server


@pytest.fixture
def sim(simulator_server, request):
    simulator_server.reset()
    marker = request.node.get_closest_marker("pending")
    if marker:
        seconds = marker.kwargs.get("seconds", PENDING_SECONDS)
        simulator_server.configure(ami_available_after=seconds, snapshot_completed_after=seconds)
    return simulator_server


def aws_client(sim, service, region="us-east-1"):
    """A boto3 client of the simulator, as the test's view of AWS."""
    return boto3.client(service, endpoint_url=sim.endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def client_fixture(service):
    """A fixture named after the service: the test's boto3 client of it."""

    @pytest.fixture(name=service)
    def client(sim):
        return aws_client(sim, service)
    return client


ec2 = client_fixture("ec2")
autoscaling = client_fixture("autoscaling")
ssm = client_fixture("ssm")
elbv2 = client_fixture("elbv2")


def ansible_env(sim):
    env = dict(os.environ)
    env.update(sim.env)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    return env


def run_play(sim, play, env=None, timeout=300):
    """(stdout, stderr) of ansible-playbook running `play` (a list of plays) on localhost against the simulator,
    with `env` added to its environment, as a user would run it."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(play, handle)
    # Its own process group, so a timeout also ends the module process ansible-playbook forked,
    # which would otherwise go on calling the simulator during the next test.
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", handle.name],
        env=dict(ansible_env(sim), **(env or {})), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    finally:
        os.unlink(handle.name)


class TaskRunner:
    """Runs one module task through ansible-playbook, as a user would, and returns its result."""

    def __init__(self, sim):
        self.sim = sim

    def __call__(self, module, args, check=False, diff=False, timeout=300):
        play = [{
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [{"name": "task under test", module: args, "check_mode": check, "diff": diff}],
        }]
        stdout, stderr = run_play(self.sim, play, timeout=timeout)
        try:
            report = json.loads(stdout)
            return report["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError) as error:
            raise AssertionError("ansible-playbook gave no task result:\n%s\n%s" % (stdout, stderr)) from error


@pytest.fixture
def run_task(sim):
    """run_task(module, args, check=False, diff=False): one module task's result, the module run in the test
    process (tests/module_runs.py). The modules' own tests assert on its logic and on AWS; every module also
    runs through ansible-playbook in test_no_secret_printed.py, and the roles and playbooks in their tests."""
    clock = RunClock()

    def run(module, args, check=False, diff=False):
        clock.wait_for_next_second()
        try:
            return run_module(sim, module, args, check=check, diff=diff)
        finally:
            clock.mark_ended()
    return run


# -- the fault campaigns' tables (tests/reliability/test_fault_campaign.py) ------------------
# Each scenario's test attaches its table row to its report; the rows are gathered here, where
# pytest-xdist also delivers the workers' reports, and printed as one table per module.
FAULT_CAMPAIGN_ROW = "fault_campaign_row"
_CAMPAIGN_ROWS = []


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == FAULT_CAMPAIGN_ROW:
            _CAMPAIGN_ROWS.append(value)


def pytest_terminal_summary(terminalreporter):
    if not _CAMPAIGN_ROWS:
        return
    sys.path.insert(0, str(Path(__file__).parent / "reliability"))
    import campaign_core  # needs the path above, as soak.py does
    tables = {}
    for entry in sorted(_CAMPAIGN_ROWS, key=lambda entry: entry["order"]):
        tables.setdefault((entry["module"], entry["seed"]), []).append(entry["row"])
    for (module, seed), rows in tables.items():
        terminalreporter.write_line("\n%s fault campaign (seed %d)\n%s" % (module, seed, campaign_core.format_table(rows)))
