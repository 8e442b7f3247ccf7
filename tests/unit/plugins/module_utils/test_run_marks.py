"""run_marks: a run's mark at the end of a text, cut to a limit, and recognised only as that run's."""

import re

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.run_marks import RunMark
from ansible_collections.cloudops.aws.plugins.module_utils.run_marks import mark_token

TOKEN = "0123456789ab"


def test_a_new_mark_is_twelve_hex_digits_in_brackets_and_differs_from_the_next():
    first, second = RunMark(), RunMark()

    assert re.fullmatch(r"\[run [0-9a-f]{12}\]", first.text)
    assert first.text == "[run %s]" % first.token
    assert first.token != second.token


def test_the_mark_goes_after_the_text_or_stands_alone():
    mark = RunMark(TOKEN)

    assert mark.stamp("nightly backup") == "nightly backup [run 0123456789ab]"
    assert mark.stamp("") == mark.stamp(None) == "[run 0123456789ab]"


@pytest.mark.parametrize("length", [81, 82, 100, 250])
def test_with_a_limit_the_text_is_cut_and_the_mark_kept_whole(length):
    stamped = RunMark(TOKEN).stamp("x" * length, limit=100)

    assert len(stamped) == 100
    assert stamped == "x" * 81 + " [run 0123456789ab]"


def test_a_text_that_fits_the_limit_is_not_cut():
    assert RunMark(TOKEN).stamp("deploy v42", limit=100) == "deploy v42 [run 0123456789ab]"


def test_a_mark_is_on_the_texts_its_run_stamped_and_no_other():
    mark = RunMark(TOKEN)

    assert mark.is_on(mark.stamp("deploy"))
    assert mark.is_on(mark.stamp("x" * 200, limit=100))
    assert RunMark(TOKEN).is_on(mark.stamp("deploy")), "a later run given the token recognises it"
    assert not mark.is_on(RunMark("ba9876543210").stamp("deploy")), "another run's mark"
    assert not mark.is_on("deploy")
    assert not mark.is_on("")
    assert not mark.is_on(None)
    assert not mark.is_on("[run 0123456789ab] then more text"), "a mark is only ever at the end"


@pytest.mark.parametrize("text", [
    None, "", "nightly backup", "cloudops-run:0123456789abcdef", "nightly [run 0123456789AB]", "nightly [run 0123456789a]",
    "nightly [run 0123456789abc]", "nightly [run 0123456789ab] ",
])
def test_texts_without_a_mark_of_this_form_have_no_token(text):
    assert mark_token(text) is None


def test_the_token_is_read_back_from_a_marked_text():
    assert mark_token("Created by cloudops.aws [run 0123456789ab]") == TOKEN
    assert mark_token("[run 0123456789ab] [run ba9876543210]") == "ba9876543210"
