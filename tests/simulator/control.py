"""The /_sim/ control endpoint: JSON in, JSON out."""

import datetime
import json

from botocore.exceptions import BotoCoreError, ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from werkzeug.wrappers import Request, Response

from simulator import ec2_images, elbv2_health, instance_states, patching, root_volumes, ssm


class ControlError(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def handle(sim, environ, start_response):
    request = Request(environ)
    try:
        payload = _route(sim, request)
        response = Response(json.dumps(payload), status=200, mimetype="application/json")
    except ControlError as error:
        response = Response(json.dumps({"error": str(error)}), status=error.status, mimetype="application/json")
    except (ValueError, TypeError, KeyError, BotoCoreError, ClientError) as error:
        response = Response(json.dumps({"error": f"bad request: {error}"}), status=400,
                            mimetype="application/json")
    return response(environ, start_response)


def _json(request):
    if not request.get_data():
        return {}
    body = json.loads(request.get_data())
    if not isinstance(body, dict):
        raise ControlError("expected a JSON object")
    return body


def _route(sim, request):
    path, method = request.path.rstrip("/"), request.method
    if (path, method) == ("/_sim/health", "GET"):
        return {"ok": True}
    if path == "/_sim/log":
        if method == "GET":
            since = request.args.get("since")
            calls = sim.log.since(int(since) if since else None, request.args.get("action"))
            return {"calls": calls}
        if method == "DELETE":
            sim.log.clear()
            return {"ok": True}
    if path == "/_sim/faults":
        if method == "GET":
            return {"faults": sim.faults.describe()}
        if method == "POST":
            return {"id": sim.faults.add(**_json(request))}
        if method == "DELETE":
            sim.faults.clear()
            return {"ok": True}
    if path == "/_sim/config":
        if method == "GET":
            return sim.config()
        if method == "POST":
            return sim.configure(_json(request))
    if (path, method) == ("/_sim/image-failures", "POST"):
        return _fail_images(_json(request))
    if (path, method) == ("/_sim/snapshot-failures", "POST"):
        return _fail_snapshot(_json(request))
    if (path, method) == ("/_sim/snapshot-ages", "POST"):
        return _age_snapshots(_json(request))
    if (path, method) == ("/_sim/ssm/instances", "POST"):
        return ssm.mark_instances(_json(request))
    if (path, method) == ("/_sim/ssm/commands", "GET"):
        return ssm.describe_commands()
    if (path, method) == ("/_sim/patches", "POST"):
        return patching.seed(_json(request))
    if path == "/_sim/patch-failures":
        if method == "POST":
            return patching.fail(_json(request))
        if method == "DELETE":
            patching.PATCHING.clear_failures()
            return {"ok": True}
    if (path, method) == ("/_sim/instance-health", "POST"):
        return _mark_instance_health(_json(request))
    if (path, method) == ("/_sim/instance-delays", "POST"):
        return _delay_instances(_json(request))
    if (path, method) == ("/_sim/root-volume-failures", "POST"):
        return _fail_root_volume_replacements(_json(request))
    if (path, method) == ("/_sim/seed", "POST"):
        return sim.seed(_json(request))
    if (path, method) == ("/_sim/reset", "POST"):
        sim.reset()
        return {"ok": True}
    raise ControlError(f"no control route {method} {path}", status=404)


def _fail_images(body):
    if body.get("instance_id"):
        ec2_images.LIFECYCLE.fail_images_of(body["instance_id"])
        return {"ok": True}
    if not body.get("image_id"):
        raise ControlError("give instance_id or image_id")
    return _fail_pending(body, "image_id", "amis", ec2_images.fail_pending)


def _fail_snapshot(body):
    if not body.get("snapshot_id"):
        raise ControlError("give snapshot_id")
    return _fail_pending(body, "snapshot_id", "snapshots", ec2_images.fail_pending_snapshot)


def _fail_pending(body, id_key, collection, fail):
    """Make one pending image or snapshot end failed: 404 when unknown, 409 when it cannot (no longer pending)."""
    resource_id = body[id_key]
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][body.get("region", "us-east-1")]
    resource = getattr(backend, collection).get(resource_id)
    if resource is None:
        raise ControlError(f"no {resource_id}", status=404)
    if not fail(resource):
        raise ControlError(f"{resource_id} is not pending (or is an image's snapshot: fail its image)", status=409)
    return {"ok": True}


def _age_snapshots(body):
    """Move snapshots' StartTime back: tests of age rules (min_age) cannot wait a day."""
    snapshot_ids, seconds = body.get("snapshot_ids"), body.get("age_seconds")
    if not isinstance(snapshot_ids, list) or not snapshot_ids or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ControlError("give snapshot_ids, a non-empty list, and age_seconds, a number of seconds >= 0")
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][body.get("region", "us-east-1")]
    missing = [snapshot_id for snapshot_id in snapshot_ids if snapshot_id not in backend.snapshots]
    if missing:
        raise ControlError(f"no snapshot {', '.join(missing)}", status=404)
    # moto keeps StartTime as a naive UTC datetime.
    start = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(seconds=seconds)
    for snapshot_id in snapshot_ids:
        backend.snapshots[snapshot_id].start_time = start
    return {"ok": True}


def _mark_instance_health(body):
    """Write (or remove) the health file of instances' sandboxes: their load-balancer health checks fail (or pass)."""
    instance_ids, healthy = body.get("instance_ids"), body.get("healthy")
    if not isinstance(instance_ids, list) or not instance_ids or healthy not in (True, False):
        raise ControlError("give instance_ids, a non-empty list, and healthy, true or false")
    for instance_id in instance_ids:
        elbv2_health.write_health_file(instance_id, unhealthy=not healthy)
    return {"ok": True}


def _delay_instances(body):
    """Give instances their own start and stop time: a start or stop that takes longer than a module waits."""
    instance_ids, seconds = body.get("instance_ids"), body.get("seconds")
    if not isinstance(instance_ids, list) or not instance_ids or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ControlError("give instance_ids, a non-empty list, and seconds, a number of seconds >= 0")
    instance_states.TRANSITIONS.delay(instance_ids, seconds)
    return {"ok": True}


def _fail_root_volume_replacements(body):
    """Make root volume replacement tasks end failed: every task of an instance that has not yet started
    replacing, or one pending task (404 when unknown, 409 when it is no longer pending)."""
    if body.get("instance_id"):
        root_volumes.TASKS.fail_instance(body["instance_id"])
        return {"ok": True}
    if not body.get("task_id"):
        raise ControlError("give instance_id or task_id")
    failed = root_volumes.TASKS.fail_task(body["task_id"])
    if failed is None:
        raise ControlError(f"no {body['task_id']}", status=404)
    if not failed:
        raise ControlError(f"{body['task_id']} is no longer pending", status=409)
    return {"ok": True}
