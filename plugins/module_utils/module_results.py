# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""How the modules end a run: on a refused input or an AWS error, and after per-resource failures."""

import contextlib

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError


def checked_settings(module, from_params, *args, **kwargs):
    """`from_params(module.params, *args, **kwargs)`: the module's options checked into its frozen settings.

    A refused option (ValueError naming the option and the value) fails the task there, before any client exists.
    """
    try:
        return from_params(module.params, *args, **kwargs)
    except ValueError as error:
        module.fail_json(msg=str(error))


@contextlib.contextmanager
def ending_on_errors(module, summary, worker):
    """Fails the task on a refused selection or value, or on an AWS error, with what `worker` did so far.

    The failure keeps the partial result (`worker.result`): images or snapshots already created,
    commands already sent are reported, so the operator knows what exists. The worker's warnings
    are given when the block ends normally.
    """
    try:
        yield
    except (SelectionError, ValueError) as error:
        module.fail_json(msg=str(error), **worker.result)
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="%s could not complete" % summary, **worker.result)
    for warning in worker.warnings:
        module.warn(warning)


def exit_or_fail(module, result, problem):
    """exit_json, or fail_json with `problem` as the message when there is one; either way with the whole result.

    The run did not stop at the first failure (docs/architecture.md, safety rule 5), so the task
    fails at the end and still returns everything it did, for the operator and for `register`.
    """
    if problem:
        module.fail_json(msg=problem, **result)
    module.exit_json(**result)


def exit_with_failures(module, summary, failure_key, result):
    """exit_or_fail, failing when `result["failures"]` lists any, each named by its `failure_key`."""
    failures = result["failures"]
    problem = None
    if failures:
        problem = "%s failed for %d %s(s): %s" % (summary, len(failures), failure_key.replace("_id", ""), failure_list(failures, failure_key))
    exit_or_fail(module, result, problem)


def failure_list(failures, failure_key, limit=None):
    """The failure entries as "<id>: <error>; ..."; past `limit` of them, "..." stands for the others."""
    shown = "; ".join("%s: %s" % (failure[failure_key], failure["error"]) for failure in failures[:limit])
    return shown + (" ..." if limit is not None and len(failures) > limit else "")
