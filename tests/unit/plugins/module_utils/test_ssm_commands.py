import re
import time

import pytest
from botocore.exceptions import ClientError

from ansible_collections.cloudops.aws.plugins.module_utils.ssm_commands import send_command


def error(code, status):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "SendCommand")


class Ssm:
    """SSM whose SendCommand answers are replaced by `answers`, in order: 'lost' (SSM acts, the client gets a 500),
    'throttled' (nothing done, a 400); then it answers normally."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.commands = []
        self.sends = 0

    def send_command(self, **request):
        self.sends += 1
        answer = self.answers.pop(0) if self.answers else "ok"
        if answer == "throttled":
            raise error("ThrottlingException", 400)
        self.commands.append({"CommandId": "cmd-%d" % len(self.commands), "Comment": request["Comment"]})
        if answer == "lost":
            raise error("InternalServerError", 500)
        return {"Command": self.commands[-1]}

    def list_commands(self, aws_retry, **request):
        assert aws_retry and request["Filters"][0]["key"] == "InvokedAfter"
        return {"Commands": list(self.commands)}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


def test_a_lost_answer_finds_the_command_again_instead_of_sending_it_twice():
    ssm = Ssm("lost")

    assert send_command(ssm, {"DocumentName": "AWS-RunShellScript", "Comment": "deploy"}) == "cmd-0"
    assert ssm.sends == 1 and len(ssm.commands) == 1
    assert re.fullmatch(r"deploy \[run [0-9a-f]{12}\]", ssm.commands[0]["Comment"])


def test_a_throttled_send_ran_nothing_and_is_sent_again():
    ssm = Ssm("throttled", "throttled")

    assert send_command(ssm, {"DocumentName": "AWS-RunShellScript"}) == "cmd-0"
    assert ssm.sends == 3 and len(ssm.commands) == 1


def test_another_runs_command_is_not_taken_for_ours():
    ssm = Ssm("lost")
    ssm.commands.append({"CommandId": "theirs", "Comment": "deploy [run ffffffffffff]"})

    assert send_command(ssm, {"DocumentName": "AWS-RunShellScript"}) == "cmd-1"
    assert ssm.sends == 1


def test_the_mark_always_fits_ssms_100_characters():
    ssm = Ssm()

    send_command(ssm, {"DocumentName": "AWS-RunShellScript", "Comment": "x" * 100})
    send_command(ssm, {"DocumentName": "AWS-RunShellScript"})

    cut, bare = (command["Comment"] for command in ssm.commands)
    assert len(cut) == 100 and re.fullmatch(r"x+ \[run [0-9a-f]{12}\]", cut)
    assert re.fullmatch(r"\[run [0-9a-f]{12}\]", bare)
