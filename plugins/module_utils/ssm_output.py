# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What an SSM command invocation says, in the module's terms (pure: no boto3).

Run Command reports an invocation's outcome in two fields: Status (Success, Failed, TimedOut,
Cancelled, ...) and the finer StatusDetails, which tells an execution timeout from a delivery
timeout and names Undeliverable and Terminated (stopped by MaxErrors). The module classifies
by StatusDetails and falls back on Status.
"""

import datetime
from urllib.parse import unquote
from urllib.parse import urlparse

# GetCommandInvocation keeps the first 24,000 characters of stdout and 8,000 of stderr.
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
# ListCommandInvocations (Details) gives each plugin's Output: stdout, an error title, stderr, at
# most 2,500 characters; the agent cuts each stream with its own marker. An output this long
# without a marker is taken as cut too: asking for the whole text once more costs one call.
PLUGIN_OUTPUT_LIMIT = 2400
ERROR_MARKER = "\n----------ERROR-------\n"
STDOUT_CUT_MARKER = "\n---Output truncated---"
STDERR_CUT_MARKER = "\n---Error truncated----"

RUNNING = ("Pending", "InProgress", "Delayed", "Cancelling")
DELIVERY_PROBLEMS = ("Undeliverable", "DeliveryTimedOut")
COMMAND_FAILURES = ("Failed", "ExecutionTimedOut", "TimedOut", "Cancelled", "Terminated")


def outcome_of(status, status_details):
    """running | success | undelivered | failed."""
    details = (status_details or "").replace(" ", "")
    if status in RUNNING or details in RUNNING:
        return "running"
    if details in DELIVERY_PROBLEMS:
        return "undelivered"
    if status == "Success" and details in ("", "Success"):
        return "success"
    return "failed"


def split_plugin_output(output):
    """(stdout, stderr, complete) from a plugin's Output; complete is False when it was cut."""
    output = output or ""
    cut = len(output) >= PLUGIN_OUTPUT_LIMIT
    if ERROR_MARKER in output:
        stdout, stderr = output.split(ERROR_MARKER, 1)
    else:
        stdout, stderr = output, ""
    if stdout.endswith(STDOUT_CUT_MARKER):
        stdout, cut = stdout[:-len(STDOUT_CUT_MARKER)], True
    if stderr.endswith(STDERR_CUT_MARKER):
        stderr, cut = stderr[:-len(STDERR_CUT_MARKER)], True
    return stdout, stderr, not cut


def _iso(moment):
    if not moment:
        return None
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    return str(moment)


def _seconds_between(start, end):
    if isinstance(start, datetime.datetime) and isinstance(end, datetime.datetime):
        return round((end - start).total_seconds(), 3)
    return None


def summarize_invocation(invocation):
    """An invocation from ListCommandInvocations (Details=true) as the module returns it."""
    plugins = invocation.get("CommandPlugins") or []
    stdout, stderr, complete = "", "", True
    for plugin in plugins:
        part_out, part_err, part_complete = split_plugin_output(plugin.get("Output"))
        stdout, stderr = stdout + part_out, stderr + part_err
        complete = complete and part_complete
    starts = [p["ResponseStartDateTime"] for p in plugins if p.get("ResponseStartDateTime")]
    ends = [p["ResponseFinishDateTime"] for p in plugins if p.get("ResponseFinishDateTime")]
    start, end = (min(starts) if starts else None), (max(ends) if ends else None)
    codes = [p.get("ResponseCode") for p in plugins if p.get("ResponseCode") is not None]
    failing_codes = [code for code in codes if code != 0]
    return {
        "instance_id": invocation["InstanceId"],
        "instance_name": invocation.get("InstanceName", ""),
        "command_id": invocation["CommandId"],
        "status": invocation.get("Status", ""),
        "status_details": invocation.get("StatusDetails", ""),
        "response_code": (failing_codes or codes or [-1])[0],
        "stdout": stdout,
        "stderr": stderr,
        "output_truncated": not complete,
        "stdout_url": invocation.get("StandardOutputUrl") or (plugins[0].get("StandardOutputUrl", "") if plugins else ""),
        "stderr_url": invocation.get("StandardErrorUrl") or (plugins[0].get("StandardErrorUrl", "") if plugins else ""),
        "start": _iso(start),
        "end": _iso(end),
        "duration": _seconds_between(start, end),
        "plugin_count": len(plugins),
    }


def apply_invocation_content(summary, content):
    """Take stdout and stderr from GetCommandInvocation (24,000 / 8,000 characters)."""
    stdout = content.get("StandardOutputContent") or ""
    stderr = content.get("StandardErrorContent") or ""
    summary["stdout"], summary["stderr"] = stdout, stderr
    summary["output_truncated"] = len(stdout) >= STDOUT_LIMIT or len(stderr) >= STDERR_LIMIT
    return summary


def s3_location(url):
    """(bucket, key) of an S3 output URL (path style, as Run Command writes them), or None."""
    if not url:
        return None
    parsed = urlparse(url)
    host = parsed.netloc.lower()
    path = unquote(parsed.path.lstrip("/"))
    if not host.startswith("s3") and ".s3" not in host:
        return None
    if host.startswith("s3"):
        bucket, _sep, key = path.partition("/")
    else:
        bucket, key = host.split(".s3", 1)[0], path
    return (bucket, key) if bucket and key else None


def count_by_status(invocations):
    """{status details: count}, e.g. {"Success": 118, "Failed": 2}."""
    counts = {}
    for invocation in invocations:
        key = invocation["status_details"] or invocation["status"]
        counts[key] = counts.get(key, 0) + 1
    return counts
