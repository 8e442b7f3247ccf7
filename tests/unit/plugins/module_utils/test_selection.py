"""The shared `filters` option and explicit ids: refused before any call, or named when EC2 refuses them."""

import re

import pytest
from botocore.exceptions import ClientError

from ansible_collections.cloudops.aws.plugins.module_utils.selection import REFUSED_FILTER_CODES
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.selection import checked_values
from ansible_collections.cloudops.aws.plugins.module_utils.selection import filter_list
from ansible_collections.cloudops.aws.plugins.module_utils.selection import refusal_named


def test_filter_values_become_lists_of_strings_as_ec2_takes_them():
    filters = {"tag:Backup": "daily", "size": 100, "encrypted": True, "tag:Role": ["web", 2]}

    assert filter_list(filters) == [
        {"Name": "tag:Backup", "Values": ["daily"]}, {"Name": "size", "Values": ["100"]},
        {"Name": "encrypted", "Values": ["true"]}, {"Name": "tag:Role", "Values": ["web", "2"]},
    ]


@pytest.mark.parametrize("value", [{"deep": 1}, [["web"]], None, ["web", None]])
def test_a_filter_value_botocore_cannot_send_is_refused_naming_it(value):
    with pytest.raises(SelectionError, match=r"^filters: the value of 'tag:Role' must be"):
        filter_list({"tag:Role": value})


VOLUME_ID = re.compile(r"^vol-[0-9a-f]{17}$")
VOLUME = "vol-0123456789abcdef0"


def test_checked_values_are_each_once_in_the_order_given_and_none_when_unset():
    assert checked_values("volume_ids", [VOLUME, "vol-00000000000000001", VOLUME], VOLUME_ID, "a volume id") == (
        VOLUME, "vol-00000000000000001")
    assert checked_values("volume_ids", None, VOLUME_ID, "a volume id") is None


@pytest.mark.parametrize("values, message", [
    ([], "volume_ids: the list is empty"),
    ([VOLUME, "data", 7], "volume_ids: not a volume id: 'data', 7"),
])
def test_checked_values_refuse_an_empty_list_and_name_every_bad_value(values, message):
    with pytest.raises(ValueError) as refused:
        checked_values("volume_ids", values, VOLUME_ID, "a volume id")
    assert str(refused.value) == message


def refusal(code, message="The filter 'no-such-filter' is invalid"):
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeVolumes")


@pytest.mark.parametrize("code", REFUSED_FILTER_CODES)
def test_ec2_refusing_the_filters_names_the_option_and_the_filter(code):
    with pytest.raises(SelectionError) as raised:
        with refusal_named("filters", {"no-such-filter": "x"}, REFUSED_FILTER_CODES):
            raise refusal(code)

    assert str(raised.value) == "filters: DescribeVolumes refused {'no-such-filter': 'x'}: The filter 'no-such-filter' is invalid"


def test_ec2_refusing_an_id_names_the_option_and_the_id():
    with pytest.raises(SelectionError, match=r"^volume_ids: DescribeVolumes refused \['vol-0123456789abcdef0'\]: .* does not exist"):
        with refusal_named("volume_ids", ["vol-0123456789abcdef0"], ("InvalidVolume.NotFound",)):
            raise refusal("InvalidVolume.NotFound", "The volume 'vol-0123456789abcdef0' does not exist.")


def test_other_errors_pass_through():
    with pytest.raises(ClientError):
        with refusal_named("filters", {"tag:Backup": "daily"}, REFUSED_FILTER_CODES):
            raise refusal("UnauthorizedOperation", "not allowed")
