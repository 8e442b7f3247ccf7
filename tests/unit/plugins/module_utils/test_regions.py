"""Region options: a malformed name refused before any call, a Region that never answers named."""

import pytest
from botocore.exceptions import ClientError
from botocore.exceptions import EndpointConnectionError
from botocore.parsers import ResponseParserError

from ansible_collections.cloudops.aws.plugins.module_utils.regions import region_reached
from ansible_collections.cloudops.aws.plugins.module_utils.regions import validate_region


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-9", "ap-southeast-3", "us-gov-west-1", "us-isob-east-1", "cn-north-1", "eusc-de-east-1"])
def test_region_names_of_every_partition_are_accepted(region):
    assert validate_region("source_region", region) == region


@pytest.mark.parametrize("region", ["us-east", "US_EAST_1", "eu-west-9x", "us-east-1 ", "useast1", "", "eu--west-1"])
def test_a_malformed_region_is_refused_naming_the_option_and_value(region):
    with pytest.raises(ValueError, match=r"^region: %r is not a Region name" % region):
        validate_region("region", region)


@pytest.mark.parametrize("error", [EndpointConnectionError(endpoint_url="https://ec2.eu-west-9.amazonaws.com/"),
                                   ResponseParserError("Unable to parse response: 500 Internal Server Error")])
def test_no_answer_from_a_region_names_the_option_and_the_region(error):
    with pytest.raises(ValueError, match=r"^source_region: no answer from AWS in 'eu-west-9'"):
        with region_reached("source_region", "eu-west-9"):
            raise error


def test_an_aws_error_from_a_region_that_answers_passes_through():
    with pytest.raises(ClientError):
        with region_reached("region", "us-west-2"):
            raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "DescribeSnapshots")
