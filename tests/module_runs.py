"""Runs a cloudops.aws module without ansible-playbook, for tests whose subject is the module's logic.

An ansible-playbook run of one task costs about 1.5 s of CPU before the module does anything
(the controller's start-up, the AnsiballZ payload, a new Python importing boto3). The bad-input
and fault campaigns and the modules' integration tests run modules hundreds of times, so they call
the module's main() in the test process instead, through ansible-core's own unit-testing hook: the
same argument-spec checks, the same code and the same JSON result, minus the controller's
templating, which those tests do not exercise. Every module still runs through ansible-playbook in
test_no_secret_printed.py, as do the roles and playbooks in their tests. Runs that a test must kill
get a process of their own (start_module_process).
"""

import contextlib
import functools
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from unittest import mock

import botocore.loaders
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args

MODULES_PACKAGE = "ansible_collections.cloudops.aws.plugins.modules."
# amazon.aws makes a new boto3 session for each client, and each session a new botocore loader, which
# reads and parses the service's model again: 0.23 s of CPU for an EC2 client, once per module process
# under ansible-playbook but once per run here. Runs in the test process share one loader per data path
# (0.025 s a client); the models are read-only data.
shared_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)


def module_import_name(fqcn):
    namespace, collection, name = fqcn.split(".")
    if (namespace, collection) != ("cloudops", "aws"):
        raise ValueError("only this collection's modules run in process, not %s" % fqcn)
    return MODULES_PACKAGE + name


def controller_args(args, check, diff):
    """The module's options plus what the controller adds for check and diff mode."""
    return dict(args, _ansible_check_mode=check, _ansible_diff=diff)


def run_module(sim, fqcn, args, check=False, diff=False):
    """The module's result, as a dict like the one ansible-playbook reports for the task."""
    module = importlib.import_module(module_import_name(fqcn))
    # ansible-core gathers a module's warnings in process-wide registries, read when the module exits;
    # a module process starts with them empty.
    ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
    ansible_warnings._global_deprecations.clear()  # pylint: disable=protected-access
    output = io.StringIO()
    with mock.patch.dict(os.environ, sim.env), patch_module_args(controller_args(args, check, diff)), \
            mock.patch("botocore.session.create_loader", shared_loader), contextlib.redirect_stdout(output):
        try:
            module.main()
        except SystemExit:
            pass
        except Exception as error:  # pylint: disable=broad-except  # ansible-playbook reports a crashed module so too
            return {"failed": True, "msg": "Module failed: %s" % error, "exception": traceback.format_exc()}
    return as_reported(output.getvalue())


def as_reported(text):
    """The module's JSON output as ansible-playbook reports it: warnings as their messages."""
    try:
        result = json.loads(text)
    except ValueError:
        return {"failed": True, "msg": "MODULE FAILURE: no JSON result", "module_stdout": text}
    if "warnings" in result:
        result["warnings"] = [warning["event"]["msg"] if isinstance(warning, dict) else warning for warning in result["warnings"]]
    return result


class RunClock:
    """Keeps a test's runs of a module in different seconds, as ansible-playbook's start-up did and a
    schedule's runs are: a generation's time is kept to the second, so two runs within one second
    would make two generations of one time (or, for AMIs, one name)."""

    def __init__(self):
        self.last_ended = 0.0

    def wait_for_next_second(self):
        while int(time.time()) <= int(self.last_ended):
            time.sleep(int(self.last_ended) + 1 - time.time())

    def mark_ended(self):
        self.last_ended = time.time()


def start_module_process(sim, fqcn, args, env=None):
    """The module as its own process (Python running the module file), for a test that kills it.

    It runs in its own process group so that a kill also ends anything it started; finish_module_process
    reads its result.
    """
    handle, path = tempfile.mkstemp(suffix=".json", prefix="module-args-")
    with os.fdopen(handle, "w") as stream:
        json.dump({"ANSIBLE_MODULE_ARGS": controller_args(args, False, False)}, stream)
    collections = str(Path(__file__).resolve().parent.parent / "build" / "collections")
    process_env = dict(os.environ, **sim.env, **(env or {}))
    process_env["PYTHONPATH"] = os.pathsep.join([collections, process_env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-m", module_import_name(fqcn), path], env=process_env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    process.args_path = path
    return process


def finish_module_process(process, timeout=300):
    """The result of a process from start_module_process, once it ends; a failed result if it gave none."""
    stdout, _stderr = process.communicate(timeout=timeout)
    os.unlink(process.args_path)
    return as_reported(stdout)


def kill_module_process(process):
    """Ends a process from start_module_process and everything in its group, as a SIGKILL would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    os.unlink(process.args_path)
