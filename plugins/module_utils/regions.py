# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Region options: the name's shape checked before any call, and a Region that never answers named."""

import contextlib
import re

try:
    from botocore.exceptions import EndpointConnectionError
    from botocore.parsers import ResponseParserError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

# The shape of every partition's Region names (us-east-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1);
# a list of the Regions would go stale with each new one.
REGION_PATTERN = re.compile(r"^[a-z]{2,4}(-[a-z]+){1,3}-[0-9]+$")


def validate_region(option, region):
    """The region, or ValueError naming the option and the value when it is not shaped like a Region name."""
    if not REGION_PATTERN.match(region):
        raise ValueError("%s: %r is not a Region name such as us-east-1 or eu-west-1" % (option, region))
    return region


@contextlib.contextmanager
def region_reached(option, region):
    """Around calls in `region`: no answer at all from there becomes a ValueError naming the option.

    A well-formed name that is no Region fails this way, not with an AWS error code: its endpoint does not
    resolve (EndpointConnectionError), or an endpoint override answers with a page that is no API reply.
    """
    try:
        yield
    except (EndpointConnectionError, ResponseParserError) as error:
        raise ValueError("%s: no answer from AWS in %r (is it a Region this account can use?): %s" % (option, region, error)) from error
