"""Drive a running simulator, or run one for the duration of a `with` block.

Standard library only, so any test or script can import it.
"""

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SimulatorError(RuntimeError):
    pass


class SimulatorClient:
    def __init__(self, endpoint):
        self.endpoint = endpoint.rstrip("/")
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def _request(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            f"{self.endpoint}/_sim/{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            raise SimulatorError(f"{method} /_sim/{path}: HTTP {error.code}: {detail}") from None

    def health(self):
        return self._request("GET", "health", timeout=2)

    def calls(self, since=None, action=None):
        query = "&".join(
            f"{key}={urllib.request.quote(str(value))}"
            for key, value in (("since", since), ("action", action)) if value is not None
        )
        return self._request("GET", "log" + (f"?{query}" if query else ""))["calls"]

    def clear_log(self):
        self._request("DELETE", "log")

    def add_fault(self, **rule):
        return self._request("POST", "faults", rule)["id"]

    def clear_faults(self):
        self._request("DELETE", "faults")

    def faults(self):
        return self._request("GET", "faults")["faults"]

    def configure(self, **cfg):
        return self._request("POST", "config", cfg)

    def config(self):
        return self._request("GET", "config")

    def fail_images(self, instance_id=None, image_id=None):
        body = {"instance_id": instance_id} if instance_id else {"image_id": image_id}
        self._request("POST", "image-failures", body)

    def fail_snapshot(self, snapshot_id, region="us-east-1"):
        """Make a pending CreateSnapshot(s) or CopySnapshot snapshot end `error` (a copy: in its destination Region)."""
        self._request("POST", "snapshot-failures", {"snapshot_id": snapshot_id, "region": region})

    def age_snapshots(self, snapshot_ids, seconds):
        """Make snapshots look `seconds` old (their StartTime), for tests of age rules."""
        self._request("POST", "snapshot-ages", {"snapshot_ids": list(snapshot_ids), "age_seconds": seconds})

    def ssm_mark(self, instance_ids, unmanaged=None, offline=None):
        """Take instances out of SSM (unmanaged) or cut their agent off (offline); false undoes it."""
        body = {"instance_ids": list(instance_ids)}
        for key, value in (("unmanaged", unmanaged), ("offline", offline)):
            if value is not None:
                body[key] = value
        return self._request("POST", "ssm/instances", body)

    def ssm_commands(self):
        return self._request("GET", "ssm/commands")

    def seed_patches(self, instance_id, patches):
        """Add patches ({id, title, classification, severity, cve_ids, state}) to an instance's inventory,
        replacing those with the same id; returns the inventory."""
        return self._request("POST", "patches", {"instance_id": instance_id, "patches": list(patches)})["patches"]

    def fail_patches(self, instance_id, patch_ids=None):
        """Make Install fail these patches of the instance (every patch it installs when None)."""
        body = {"instance_id": instance_id}
        if patch_ids is not None:
            body["patch_ids"] = list(patch_ids)
        self._request("POST", "patch-failures", body)

    def clear_patch_failures(self):
        self._request("DELETE", "patch-failures")

    def set_instance_health(self, instance_ids, healthy):
        """Make the load-balancer health checks of instances fail (healthy=False) or pass again, through
        the health file of their SSM sandboxes."""
        self._request("POST", "instance-health", {"instance_ids": list(instance_ids), "healthy": healthy})

    def delay_instances(self, instance_ids, seconds):
        """Make starting and stopping these instances take `seconds` (until reset), whatever the settings say."""
        self._request("POST", "instance-delays", {"instance_ids": list(instance_ids), "seconds": seconds})

    def fail_root_volume_replacement(self, instance_id=None, task_id=None):
        """Make root volume replacement tasks end `failed`: those of an instance, or one pending task."""
        body = {"instance_id": instance_id} if instance_id else {"task_id": task_id}
        self._request("POST", "root-volume-failures", body)

    def seed(self, fleet):
        return self._request("POST", "seed", fleet)

    def reset(self):
        self._request("POST", "reset")


def _wait_for_endpoint(process, timeout):
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SimulatorError(f"simulator did not start within {timeout} s")
        if not select.select([process.stdout], [], [], remaining)[0]:
            continue
        line = process.stdout.readline()
        if line.startswith("simulator listening on "):
            return line.split()[-1]
        if not line and process.poll() is not None:
            raise SimulatorError(f"simulator exited with {process.returncode}")


@contextlib.contextmanager
def running_simulator(fleet=None, startup_timeout=60, **start_options):
    """Run `python -m simulator --port 0` and yield a client for it.

    `fleet` is a path to a fleet YAML file or a fleet dict; start options are
    the CLI's (ami_available_after=0.5, throttling=True, ...).
    """
    args = [sys.executable, "-m", "simulator", "--port", "0"]
    for option, value in start_options.items():
        flag = "--" + option.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value not in (None, False):
            args += [flag, str(value)]
    fleet_doc = None
    if isinstance(fleet, dict):
        fleet_doc = fleet
    elif fleet:
        args += ["--fleet", str(fleet)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_PARENT, env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        try:
            try:
                client = SimulatorClient(_wait_for_endpoint(process, startup_timeout))
            except SimulatorError as error:
                stderr.seek(0)
                raise SimulatorError(f"{error}\n{stderr.read()[-4000:]}") from None
            if fleet_doc:
                client.seed(fleet_doc)
            yield client
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
