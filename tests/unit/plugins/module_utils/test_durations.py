# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from datetime import timedelta

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    "value, expected",
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("36h", timedelta(hours=36)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1w2d3h4m5s", timedelta(days=9, hours=3, minutes=4, seconds=5)),
        ("7D", timedelta(days=7)),
        ("1D12H", timedelta(days=1, hours=12)),
        ("0s", timedelta(0)),
        ("007d", timedelta(days=7)),
        (" 7d ", timedelta(days=7)),
        (0, timedelta(0)),
        (3600, timedelta(hours=1)),
    ],
)
def test_parse_duration_accepts(value, expected):
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", " ", "7", "7x", "d7", "1.5d", "-1d", "+1d", "1d 12h", "7 d", "1mo", "1y", "1M2", "d", "7dd", "\u0667d", "1d-2h"],
)
def test_parse_duration_rejects_strings_and_names_them(value):
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    message = str(caught.value)
    assert message.startswith("invalid duration %r: " % (value,))
    assert "use a number and a unit (s, m, h, d, w)" in message


def test_parse_duration_message_is_the_documented_one():
    with pytest.raises(ValueError) as caught:
        parse_duration("7x")
    assert str(caught.value) == "invalid duration '7x': use a number and a unit (s, m, h, d, w), e.g. '90m', '7d' or '1d12h'"


@pytest.mark.parametrize("value", [-1, True, False, 1.5, 7.0, None, [], timedelta(days=1)])
def test_parse_duration_rejects_other_types(value):
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert ("invalid duration %r" % (value,)) in str(caught.value)


def test_parse_duration_refuses_spans_beyond_timedelta():
    with pytest.raises(ValueError) as caught:
        parse_duration("99999999999w")
    assert "'99999999999w'" in str(caught.value)


@pytest.mark.parametrize(
    "delta, expected",
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(days=30), "30d"),
        (timedelta(days=14), "14d"),
        (timedelta(days=2, seconds=5), "2d5s"),
        (timedelta(seconds=1, microseconds=900000), "1s"),
        (-timedelta(days=1, hours=2), "-1d2h"),
    ],
)
def test_format_duration(delta, expected):
    assert format_duration(delta) == expected


@pytest.mark.parametrize("text", ["45s", "90m", "36h", "7d", "2w", "1d12h", "1w2d3h4m5s"])
def test_format_duration_reads_back(text):
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)
