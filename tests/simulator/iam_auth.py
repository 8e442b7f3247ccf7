"""IAM authorization of AWS calls, over moto's own check, switched on and off at run time.

moto checks IAM policies when `INITIAL_NO_AUTH_ACTION_COUNT` is reached (the server's environment,
or moto's `/moto-api/reset-auth`). Measured on moto 5.2.5, its check is by action only:

- every EC2, SSM, ELBv2, Auto Scaling and CloudWatch call is checked against the resource `*`, so a
  statement scoped to resource ARNs never matches and the call is denied although AWS allows it;
  STS AssumeRole is checked against the role's ARN;
- `Condition` blocks of identity policies are not evaluated: a statement with any condition applies
  as if the condition held (moto evaluates `StringEquals` only in role trust policies, and a trust
  policy only for a role of the caller's own account);
- the action is named after the request's signing name, so CloudWatch's are `monitoring:...`;
- a denial is `AccessDenied` in moto's XML for every service, which botocore cannot read for JSON
  services (SSM, KMS: the code comes out as `403`); S3's says "Access Denied" and names nothing.

This module keeps moto's check and makes it usable for least-privilege tests:

- `iam.enforce` (control setting, or the `--iam` start option) switches the check on (moto's
  `INITIAL_NO_AUTH_ACTION_COUNT` set to 0) or off (infinity); reset returns to the start-up value.
  The simulator's own requests (fleet seeding) are never checked.
- Actions carry their IAM service prefix (`cloudwatch:DescribeAlarms`).
- A statement's `Resource` matches a call moto checks against `*`: the simulator authorizes by
  action, as it cannot know the resource. Conditions stay unevaluated (moto's behaviour).
- A denial is answered as AWS answers it: EC2 `UnauthorizedOperation` (HTTP 403), JSON services
  `AccessDeniedException` (HTTP 400), the others `AccessDenied` (HTTP 403), each message naming
  the principal and the action, as AWS's do when no identity-based policy allows it (S3 too, as it
  answers a caller of the bucket owner's account).
"""

import re
import threading

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError
from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase, S3IAMRequest

from simulator.protocol import error_response

# Requests the simulator makes to itself carry it (server.INTERNAL_HEADER).
INTERNAL_HEADER = "X-Simulator-Internal"

# Signing names that differ from the service's IAM prefix.
IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}

_DENIAL = re.compile(rb"User: ([^ <]+) is not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9]+)")


class Enforcement:
    """The `iam` settings of the control endpoint."""

    def __init__(self):
        self.lock = threading.Lock()
        self.at_start = False

    def reset(self, enforce=None):
        if enforce is not None:
            self.at_start = bool(enforce)
        self.configure(enforce=self.at_start)

    def configure(self, **values):
        unknown = set(values) - {"enforce"}
        if unknown:
            raise ValueError(f"unknown iam settings: {sorted(unknown)}")
        if "enforce" in values:
            if not isinstance(values["enforce"], bool):
                raise ValueError("iam enforce: give true or false")
            with self.lock:
                settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if values["enforce"] else float("inf")
                ActionAuthenticatorMixin.request_count = 0
        return self.describe()

    def describe(self):
        return {"enforce": settings.INITIAL_NO_AUTH_ACTION_COUNT <= ActionAuthenticatorMixin.request_count}


ENFORCEMENT = Enforcement()


def denial_as_aws(call, response):
    """moto's denial of `call` re-encoded as AWS answers it for the call's service; other responses unchanged."""
    status, _headers, body = response
    match = _DENIAL.search(body) if status == 403 else None
    if not match:
        return response
    user, action = (part.decode("utf-8") for part in match.groups())
    reason = f"User: {user} is not authorized to perform: {action} because no identity-based policy allows the {action} action"
    if call.protocol == "ec2":
        return error_response(call, "UnauthorizedOperation", "You are not authorized to perform this operation. " + reason, 403)
    if call.protocol in ("json", "rest-json"):
        return error_response(call, "AccessDeniedException", reason, 400)
    return error_response(call, "AccessDenied", reason, 403)


def install():
    original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
    original_request_init = IAMRequestBase.__init__
    original_matches = IAMPolicyStatement._check_element_matches

    def authorize(self, iam_request_cls, resource="*"):
        if self.headers.get(INTERNAL_HEADER):
            return None
        return original_authorize(self, iam_request_cls, resource)

    def request_init(self, *args, **kwargs):
        original_request_init(self, *args, **kwargs)
        service, action = self._action.split(":", 1)
        self._action = f"{IAM_PREFIX.get(service, service)}:{action}"

    def element_matches(self, statement_element, value):
        if statement_element == "Resource" and value == "*":
            return True
        return original_matches(self, statement_element, value)

    def s3_denied(self):
        raise AccessDeniedError(user_arn=self._access_key.arn, action=self._action)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
    S3IAMRequest._raise_access_denied = s3_denied
    IAMRequestBase.__init__ = request_init
    IAMPolicyStatement._check_element_matches = element_matches
