# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Accounts and keys across account boundaries: STS (the caller, an assumed role) and who manages a KMS key."""

import re

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/.+$")


def destination_account_of(role_arn):
    """The account id in a role ARN; ValueError naming the option when it is not one."""
    match = ROLE_ARN.match(role_arn)
    if not match:
        raise ValueError("destination_role_arn: not an IAM role ARN (arn:aws:iam::123456789012:role/name): %r" % role_arn)
    return match.group(1)


def assumed_role_credentials(sts, role_arn, session_name="cloudops-aws-snapshot-copy"):
    """Client keyword arguments for the role, from STS AssumeRole."""
    credentials = sts.assume_role(aws_retry=True, RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}


def caller_account(sts):
    return sts.get_caller_identity(aws_retry=True)["Account"]


def key_manager(kms, key_id):
    """"AWS" for an AWS managed key (aws/ebs), "CUSTOMER" for a customer managed one."""
    return kms.describe_key(aws_retry=True, KeyId=key_id)["KeyMetadata"]["KeyManager"]
