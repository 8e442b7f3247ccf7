import datetime

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import DEFAULT_NAME_TEMPLATE
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import render_image_name
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import validate_name_template

MOMENT = datetime.datetime(2026, 11, 23, 3, 15, 0, tzinfo=datetime.timezone.utc)
INSTANCE = {"instance_id": "i-0123456789abcdef0", "name": "web-1"}


def test_default_template_holds_name_id_policy_and_utc_timestamp():
    assert render_image_name(DEFAULT_NAME_TEMPLATE, INSTANCE, "daily", MOMENT) == "web-1-i-0123456789abcdef0-daily-20261123T031500Z"


def test_instance_without_name_uses_its_id():
    name = render_image_name("{instance_name}-{date}", {"instance_id": "i-0123456789abcdef0", "name": ""}, "daily", MOMENT)
    assert name == "i-0123456789abcdef0-2026-11-23"


def test_disallowed_characters_are_replaced():
    name = render_image_name(DEFAULT_NAME_TEMPLATE, {"instance_id": "i-0123456789abcdef0", "name": "web#1:prod*"}, "daily", MOMENT)
    assert name == "web-1-prod--i-0123456789abcdef0-daily-20261123T031500Z"


def test_long_instance_name_is_shortened_to_fit_128_characters():
    name = render_image_name(DEFAULT_NAME_TEMPLATE, {"instance_id": "i-0123456789abcdef0", "name": "x" * 200}, "daily", MOMENT)
    assert len(name) == 128
    assert name.endswith("-i-0123456789abcdef0-daily-20261123T031500Z")


def test_too_short_a_result_is_refused_naming_the_template():
    with pytest.raises(ValueError, match=r"'ab'"):
        render_image_name("ab", INSTANCE, "daily", MOMENT)


@pytest.mark.parametrize("template, named", [("{hostname}", "{hostname}"), ("{instance_id", "{instance_id")])
def test_bad_templates_are_refused_naming_the_problem(template, named):
    with pytest.raises(ValueError) as error:
        validate_name_template(template)
    assert named in str(error.value)
