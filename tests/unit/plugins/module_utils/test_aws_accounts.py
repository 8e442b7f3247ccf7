"""The destination account named by destination_role_arn."""

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.aws_accounts import destination_account_of


@pytest.mark.parametrize("arn, account", [("arn:aws:iam::210987654321:role/dr", "210987654321"),
                                          ("arn:aws-us-gov:iam::210987654321:role/path/dr", "210987654321")])
def test_the_destination_account_comes_from_the_role_arn(arn, account):
    assert destination_account_of(arn) == account


def test_a_role_arn_that_is_not_one_names_the_option():
    with pytest.raises(ValueError, match="destination_role_arn"):
        destination_account_of("arn:aws:iam::210987654321:user/dr")
