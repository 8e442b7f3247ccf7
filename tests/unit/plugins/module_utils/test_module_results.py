"""module_results.checked_settings: the options checked into a module's settings, or the task failed naming the option."""

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings


class Failed(Exception):
    pass


class FakeModule:
    """fail_json ends the module, as AnsibleModule's does (it exits)."""

    def __init__(self, params):
        self.params = params
        self.failures = []

    def fail_json(self, **result):
        self.failures.append(result)
        raise Failed()


def from_params(params, clock=None):
    if params["wait_timeout"] < 1:
        raise ValueError("wait_timeout: must be 1 or more seconds, got %d" % params["wait_timeout"])
    return ("settings", params["wait_timeout"], clock)


def test_checked_settings_are_what_from_params_builds_with_the_arguments_given():
    module = FakeModule({"wait_timeout": 60})

    assert checked_settings(module, from_params, clock="the clock") == ("settings", 60, "the clock")
    assert module.failures == []


def test_a_refused_option_fails_the_task_with_the_message_naming_it():
    module = FakeModule({"wait_timeout": 0})

    with pytest.raises(Failed):
        checked_settings(module, from_params)
    assert module.failures == [{"msg": "wait_timeout: must be 1 or more seconds, got 0"}]
