"""What many unit tests fake: a clock that moves only when slept on, and an AWS error as botocore raises it."""

from botocore.exceptions import ClientError


class Clock:
    """A monotonic clock: calling it gives the fake time; sleep() moves it on at once and records the sleep."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def client_error(code, operation):
    """The ClientError botocore raises when AWS answers `operation` with the error `code`."""
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)
