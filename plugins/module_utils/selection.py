# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the selecting modules share: the error for a bad selection, and their `filters` option.

ami_rotate (DescribeInstances), snapshot_rotate (DescribeVolumes) and snapshot_copy_generations
(DescribeSnapshots) pass `filters` or explicit ids through to EC2. A filter value botocore cannot
send is refused here, before any call; a filter name or an id EC2 does not take is refused by EC2,
and the error says which option gave it.
"""

import contextlib

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.transformation import ansible_dict_to_boto3_filter_list

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code

# EC2's answers to filters it cannot apply: an unknown name, a malformed value, too many values.
REFUSED_FILTER_CODES = ("InvalidFilter", "InvalidParameterValue", "FilterLimitExceeded")


class SelectionError(ValueError):
    """The selection names something that does not exist or is not an id, or filters EC2 cannot apply.

    A ValueError: like any other refused option value, it fails the task before anything is changed.
    """


def filter_list(filters):
    """Describe* Filters from the `filters` option; SelectionError for a value that is not a string or a list of them."""
    values_by_name = {}
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(item, (str, int, float)) for item in values):
            raise SelectionError("filters: the value of %r must be a string or a list of strings, got %r" % (name, value))
        # EC2 takes strings only; YAML turns `size: 100` and `encrypted: true` into a number and a bool.
        values_by_name[name] = [str(item).lower() if isinstance(item, bool) else str(item) for item in values]
    return ansible_dict_to_boto3_filter_list(values_by_name)


def check_one_selection(settings, options):
    """ValueError naming the options and the values given, unless exactly one of `options` is set (not None) on the
    frozen `settings`; an empty instance_ids is refused too."""
    given = ["%s=%r" % (name, getattr(settings, name)) for name in options if getattr(settings, name) is not None]
    if len(given) != 1:
        raise ValueError("%s: select by exactly one of them, got %s" % (", ".join(options), " and ".join(given) or "none"))
    if getattr(settings, "instance_ids", None) == ():
        raise ValueError("instance_ids: the list is empty")


def checked_values(option, values, pattern, meaning):
    """The ids or names the list option `option` gives, each once, in the order given, as strings; None when unset.

    ValueError naming the option for an empty list, and naming every value `pattern` does not match as not `meaning`
    (such as "a volume id").
    """
    if values is None:
        return None
    if not values:
        raise ValueError("%s: the list is empty" % option)
    bad = [value for value in values if not pattern.match(str(value))]
    if bad:
        raise ValueError("%s: not %s: %s" % (option, meaning, ", ".join(repr(value) for value in bad)))
    return tuple(dict.fromkeys(str(value) for value in values))


@contextlib.contextmanager
def refusal_named(option, value, codes):
    """Around a describe call made with what `option` gave: EC2 refusing it (an error code in `codes`) becomes a
    SelectionError naming the option and the value, rather than an AWS error the user has to trace back."""
    try:
        yield
    except ClientError as error:
        if error_code(error) not in codes:
            raise
        raise SelectionError("%s: %s refused %r: %s" % (option, error.operation_name, value, error.response["Error"].get("Message", ""))) from error
