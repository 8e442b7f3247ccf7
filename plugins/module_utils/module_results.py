# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""How every module ends a run that went on past per-resource failures."""


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
