"""aws_errors: the code of an AWS error, its text for a failure entry, and tolerating the codes that mean "already done"."""

import pytest
from botocore.exceptions import ClientError
from botocore.exceptions import EndpointConnectionError

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import tolerating


def aws_error(code, message="refused", operation="DeleteSnapshot"):
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def test_the_code_is_read_from_a_client_error():
    assert error_code(aws_error("InvalidSnapshot.NotFound")) == "InvalidSnapshot.NotFound"


def test_an_error_without_an_aws_code_has_none():
    assert error_code(ClientError({}, "DeleteSnapshot")) is None
    assert error_code(EndpointConnectionError(endpoint_url="https://ec2.eu-west-9.amazonaws.com")) is None
    assert error_code(ValueError("not from AWS")) is None


def test_an_exception_with_a_response_that_is_no_aws_answer_has_no_code():
    error = RuntimeError("an HTTP library's error")
    error.response = "<html>502 Bad Gateway</html>"

    assert error_code(error) is None


def test_the_text_is_botocores_message_or_the_class_name():
    assert error_text(aws_error("UnauthorizedOperation", "You are not authorized")) == (
        "An error occurred (UnauthorizedOperation) when calling the DeleteSnapshot operation: You are not authorized")
    assert error_text(ValueError("bad value")) == "bad value"
    assert error_text(TimeoutError()) == "TimeoutError"


@pytest.mark.parametrize("codes", [("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"), ["InvalidAMIID.Unavailable"]])
def test_tolerating_swallows_only_the_codes_given(codes):
    with tolerating(codes):
        raise aws_error("InvalidAMIID.Unavailable", operation="DeregisterImage")

    with pytest.raises(ClientError) as raised:
        with tolerating(codes):
            raise aws_error("InvalidAMIID.Malformed", operation="DeregisterImage")
    assert error_code(raised.value) == "InvalidAMIID.Malformed"


def test_tolerating_lets_other_exceptions_through():
    with pytest.raises(ValueError, match="not from AWS"):
        with tolerating(["InvalidSnapshot.NotFound"]):
            raise ValueError("not from AWS")
    with pytest.raises(EndpointConnectionError):
        with tolerating(["InvalidSnapshot.NotFound"]):
            raise EndpointConnectionError(endpoint_url="https://ec2.eu-west-9.amazonaws.com")


def test_tolerating_runs_the_block_once_when_nothing_is_raised():
    calls = []

    with tolerating(["InvalidSnapshot.NotFound"]):
        calls.append("delete")

    assert calls == ["delete"]
