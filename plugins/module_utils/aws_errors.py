# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One way to read an AWS error's code, to tolerate the codes that mean "already done", and to
show an error in a failure entry or a warning."""

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code


def error_code(error):
    """The AWS error code of a botocore ClientError, or None for any other exception."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    return response.get("Error", {}).get("Code")


def error_text(error):
    """The error as one line for a failure entry or a warning; never empty."""
    return str(error) or error.__class__.__name__


@contextlib.contextmanager
def tolerating(codes):
    """Treat the AWS error codes in `codes` as success, e.g. a delete retried after AWS acted.

    When the answer to a delete is lost (timeout, 5xx after AWS acted), the retry finds the
    resource gone: the outcome wanted holds, and failing would only leave work for the next run.
    """
    try:
        yield
    except is_boto3_error_code(list(codes)):
        pass
