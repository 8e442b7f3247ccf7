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


@contextlib.contextmanager
def ending_on_errors(module, summary, worker):
    """Fails the task on a refused selection or value, or on an AWS error, with what `worker` did so far.

    The AWS error keeps the partial result (`worker.result`): images or snapshots already created
    are reported, so the operator knows what exists. The worker's warnings are given when the
    block ends normally.
    """
    try:
        yield
    except (SelectionError, ValueError) as error:
        module.fail_json(msg=str(error))
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="%s could not complete" % summary, **worker.result)
    for warning in worker.warnings:
        module.warn(warning)


def exit_with_failures(module, summary, failure_key, result):
    """exit_json, or fail_json listing every failure; either way with the whole result.

    The run did not stop at the first failure (DESIGN.md, safety rule 5), so the task fails at
    the end and still returns everything it did, for the operator and for `register`.
    """
    failures = result["failures"]
    if failures:
        module.fail_json(msg="%s failed for %d %s(s): %s" % (
            summary, len(failures), failure_key.replace("_id", ""), "; ".join("%s: %s" % (f[failure_key], f["error"]) for f in failures)), **result)
    module.exit_json(**result)
