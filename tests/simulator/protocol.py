"""What an AWS request asks for, and how AWS words an error for its protocol."""

import io
import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

RESOURCE_ID = re.compile(
    r"\b(?:i|ami|snap|vol|lt|sg|subnet|vpc|eni|eipalloc|igw|rtb|import-ami|fsr|replacevol)-[0-9a-f]{8,17}\b"
)

# The status AWS answers with when the fault rule does not say.
DEFAULT_STATUS = {
    "RequestLimitExceeded": 503,
    "InternalError": 500,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "Unavailable": 503,
    "ServiceUnavailable": 503,
}


@dataclass
class Call:
    service: str
    action: str
    region: str
    protocol: str  # ec2 | query | json | rest-json | rest-xml
    params: dict = field(default_factory=dict)
    values: list = field(default_factory=list)

    @property
    def resource_ids(self):
        found = []
        for value in self.values:
            for match in RESOURCE_ID.findall(value):
                if match not in found:
                    found.append(match)
        return found


def read_body(environ):
    """Read the request body and put it back for the next reader."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _credential_scope(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request", auth)
    return (match.group(1), match.group(2)) if match else ("us-east-1", "")


def _flatten(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    elif value is not None:
        yield str(value)


def parse_call(environ, body):
    region, service = _credential_scope(environ)
    target = environ.get("HTTP_X_AMZ_TARGET")
    content_type = environ.get("CONTENT_TYPE", "")
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    if target:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return Call(service, target.rsplit(".", 1)[-1], region, "json", params, list(_flatten(params)))
    form = {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    params = {**query, **form}
    if "Action" in params:
        protocol = "ec2" if service == "ec2" else "query"
        values = [v for k, v in params.items() if k not in ("Action", "Version")]
        return Call(service, params["Action"], region, protocol, params, values)
    # REST protocols name the operation by method and path only.
    protocol = "rest-json" if "json" in content_type else "rest-xml"
    action = f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"
    values = list(query.values()) + [environ.get("PATH_INFO", "")]
    return Call(service, action, region, protocol, params, values)


def error_response(call, code, message, status=None):
    """(status, headers, body) of an error as AWS encodes it for the call's protocol."""
    status = status or DEFAULT_STATUS.get(code, 400)
    request_id = str(uuid.uuid4())
    code_x, message_x = escape(code), escape(message)
    headers = [("x-amzn-RequestId", request_id)]
    if call.protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code_x}</Code><Message>{message_x}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        headers.append(("Content-Type", "text/xml"))
    elif call.protocol == "query":
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code_x}</Code>"
            f"<Message>{message_x}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers.append(("Content-Type", "text/xml"))
    elif call.protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message})
        headers += [("x-amzn-ErrorType", code), ("Content-Type", "application/x-amz-json-1.1")]
    else:
        body = (
            f"<Error><Code>{code_x}</Code><Message>{message_x}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        headers.append(("Content-Type", "application/xml"))
    return status, headers, body.encode("utf-8")


_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")


def error_code_of(status, headers, body):
    """The AWS error code of a response moto produced, or None for a success."""
    if status < 300:
        return None
    for name, value in headers:
        if name.lower() == "x-amzn-errortype":
            return value.split(":", 1)[0]
    match = _XML_CODE.search(body)
    if match:
        return match.group(1).decode("utf-8", "replace")
    try:
        doc = json.loads(body)
        return str(doc.get("__type") or doc.get("code") or "").rsplit("#", 1)[-1] or None
    except (ValueError, AttributeError):
        return None
