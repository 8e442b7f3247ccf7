"""The simulator's WSGI app around moto's server, and its command line."""

import os

# moto reads this when it builds an EC2 backend: its thousands of public AMIs
# would make every DescribeImages slow and are no part of an account's state.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

import argparse  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from moto.moto_api._internal.models import moto_api_backend  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.http import HTTP_STATUS_CODES  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from simulator import control, ebs_copies, ebs_limits, ec2_images, elbv2_health, fleet, patching, root_volumes, sandbox_images, speedups, ssm  # noqa: E402
from simulator import iam_auth, instance_refresh, launch_templates  # noqa: E402
from simulator import instance_launches, volume_data  # noqa: E402
from simulator import instance_states  # noqa: E402
from simulator.ssm_commands import ENGINE as SSM_ENGINE  # noqa: E402
from simulator.calllog import CallLog  # noqa: E402
from simulator.faults import Faults  # noqa: E402
from simulator.machines import MACHINES  # noqa: E402
from simulator.protocol import error_code_of, error_response, parse_call, read_body  # noqa: E402
from simulator.throttling import Throttle  # noqa: E402

# Requests the simulator makes to itself (seeding) skip the log, throttling and faults.
INTERNAL_HEADER = "X-Simulator-Internal"


class Simulator:
    """Control endpoint under /_sim/; every other request is an AWS call for moto."""

    def __init__(self, ami_available_after=0.0, snapshot_completed_after=0.0, throttling=False, iam=False):
        ec2_images.install()
        ebs_limits.install()
        ebs_copies.install()
        speedups.install()
        ssm.install()
        elbv2_health.install()
        root_volumes.install()
        sandbox_images.install()
        launch_templates.install()
        instance_refresh.install()
        instance_states.install()
        iam_auth.install()
        instance_launches.install()
        volume_data.install()
        self.startup = {
            "ami_available_after": float(ami_available_after),
            "snapshot_completed_after": float(snapshot_completed_after),
            "throttling": bool(throttling),
            "iam": bool(iam),
        }
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.log = CallLog()
        self.faults = Faults()
        self.throttle = Throttle()
        self.endpoint = None
        # Set when the world is reset: calls still waiting out a latency then belong to a world
        # (a test) that is over, typically a killed run's, and must not reach or log into the next.
        self.world_ended = threading.Event()
        self.reset_state()

    def reset_state(self):
        self.log.clear()
        self.faults.clear()
        self.throttle.reset()
        self.throttle.configure(enabled=self.startup["throttling"])
        self.latency = {"default": 0.0, "actions": {}}
        ec2_images.LIFECYCLE.reset(self.startup["ami_available_after"], self.startup["snapshot_completed_after"])
        ebs_limits.LIMITS.reset()
        ebs_copies.LIMITS.reset()
        ssm.reset()
        MACHINES.reset()
        elbv2_health.SETTINGS.reset()
        root_volumes.TASKS.reset()
        instance_refresh.REFRESHES.reset()
        instance_states.TRANSITIONS.reset()
        instance_launches.SETTINGS.reset()
        iam_auth.ENFORCEMENT.reset(self.startup["iam"])

    def reset(self):
        ended, self.world_ended = self.world_ended, threading.Event()
        ended.set()
        moto_api_backend.reset()
        self.reset_state()

    def config(self):
        return {
            "latency": {"default": self.latency["default"], "actions": dict(self.latency["actions"])},
            "ami_available_after": ec2_images.LIFECYCLE.ami_available_after,
            "snapshot_completed_after": ec2_images.LIFECYCLE.snapshot_completed_after,
            "throttling": self.throttle.describe(),
            "snapshot_limits": ebs_limits.LIMITS.describe(),
            "snapshot_copies": ebs_copies.LIMITS.describe(),
            "ssm": SSM_ENGINE.describe(),
            "elbv2": elbv2_health.SETTINGS.describe(),
            "root_volumes": root_volumes.TASKS.describe(),
            "patching": patching.PATCHING.describe(),
            "autoscaling": instance_refresh.REFRESHES.describe(),
            "instances": instance_states.TRANSITIONS.describe(),
            "launches": instance_launches.SETTINGS.describe(),
            "iam": iam_auth.ENFORCEMENT.describe(),
        }

    def configure(self, cfg):
        unknown = set(cfg) - {"latency", "ami_available_after", "snapshot_completed_after", "throttling", "snapshot_limits",
                              "snapshot_copies", "ssm", "elbv2", "root_volumes", "patching", "autoscaling", "instances", "iam",
                              "launches"}
        if unknown:
            raise ValueError(f"unknown configuration keys: {sorted(unknown)}")
        latency = cfg.get("latency") or {}
        if "default" in latency:
            self.latency["default"] = float(latency["default"])
        for action, seconds in (latency.get("actions") or {}).items():
            if seconds is None:
                self.latency["actions"].pop(action, None)
            else:
                self.latency["actions"][action] = float(seconds)
        lifecycle = ec2_images.LIFECYCLE
        with lifecycle.lock:
            if "ami_available_after" in cfg:
                lifecycle.ami_available_after = float(cfg["ami_available_after"])
            if "snapshot_completed_after" in cfg:
                lifecycle.snapshot_completed_after = float(cfg["snapshot_completed_after"])
        if "throttling" in cfg:
            self.throttle.configure(**cfg["throttling"])
        if "snapshot_limits" in cfg:
            ebs_limits.LIMITS.reset(**dict(ebs_limits.LIMITS.describe(), **cfg["snapshot_limits"]))
        if "snapshot_copies" in cfg:
            ebs_copies.LIMITS.reset(**dict(ebs_copies.LIMITS.describe(), **cfg["snapshot_copies"]))
        if "ssm" in cfg:
            SSM_ENGINE.configure(**cfg["ssm"])
        if "elbv2" in cfg:
            elbv2_health.SETTINGS.configure(**cfg["elbv2"])
        if "root_volumes" in cfg:
            root_volumes.TASKS.configure(**cfg["root_volumes"])
        if "patching" in cfg:
            patching.PATCHING.configure(**cfg["patching"])
        if "autoscaling" in cfg:
            instance_refresh.REFRESHES.configure(**cfg["autoscaling"])
        if "instances" in cfg:
            instance_states.TRANSITIONS.configure(**cfg["instances"])
        if "iam" in cfg:
            iam_auth.ENFORCEMENT.configure(**cfg["iam"])
        if "launches" in cfg:
            instance_launches.SETTINGS.configure(**cfg["launches"])
        return self.config()

    def seed(self, document):
        return fleet.seed(self.endpoint, document, headers={INTERNAL_HEADER: "1"})

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_sim/"):
            return control.handle(self, environ, start_response)
        if environ.get("HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")):
            return self.moto(environ, start_response)
        started, cpu_started = time.monotonic(), time.thread_time()
        world_ended = self.world_ended
        call = parse_call(environ, read_body(environ))
        delay = self.latency["actions"].get(call.action, self.latency["default"])
        if delay:
            world_ended.wait(delay)
        if world_ended.is_set():
            status, headers, body = error_response(call, "ServiceUnavailable", "The simulator was reset while this call waited.")
            start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}", headers + [("Content-Length", str(len(body)))])
            return [body]
        if call.service == "ec2" and not self.throttle.allow(call.region, call.action, call.params):
            response = error_response(call, "RequestLimitExceeded", "Request limit exceeded.")
        else:
            rule = self.faults.take(call)
            if rule is None:
                response = iam_auth.denial_as_aws(call, self._run_moto(environ))
            else:
                if rule.after:
                    self._run_moto(environ)
                response = error_response(call, rule.code, rule.message, rule.status)
        status, headers, body = response
        error_code = error_code_of(status, headers, body)
        if not world_ended.is_set():
            self.log.record(call, status, error_code, (time.monotonic() - started) * 1000, (time.thread_time() - cpu_started) * 1000)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}", headers)
        return [body]

    def _run_moto(self, environ):
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        result = self.moto(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return int(captured["status"].split(" ", 1)[0]), list(captured["headers"]), body


class QuietRequestHandler(MotoRequestHandler):
    # One stderr line per AWS call drowns test output; the call log has them all.
    def log_request(self, code="-", size="-"):
        pass


def serve(simulator, port=0, fleet_path=None):
    """Bind 127.0.0.1:port, seed the fleet, then announce the endpoint; returns the server."""
    server = make_server("127.0.0.1", port, simulator, threaded=True, request_handler=QuietRequestHandler)
    simulator.endpoint = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    if fleet_path:
        simulator.seed(fleet.load(fleet_path))
    print(f"simulator listening on {simulator.endpoint}", flush=True)
    return server, thread


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--port", type=int, default=4566, help="0 picks a free port")
    parser.add_argument("--fleet", help="fleet YAML file to seed at start-up")
    parser.add_argument("--ami-available-after", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--snapshot-completed-after", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--throttling", action="store_true", help="meter EC2 calls with AWS's token buckets")
    parser.add_argument("--iam", action="store_true", help="check IAM policies from the start (the simulator's own requests excepted)")
    args = parser.parse_args(argv)
    simulator = Simulator(args.ami_available_after, args.snapshot_completed_after, args.throttling, args.iam)
    thread = serve(simulator, args.port, args.fleet)[1]
    try:
        thread.join()
    except KeyboardInterrupt:
        sys.exit(0)
