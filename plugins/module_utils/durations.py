# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse and format the short durations used by module options ("90m", "7d", "1d12h").

The units are s (seconds), m (minutes), h (hours), d (days) and w (weeks).
Months and years are deliberately not units: their length varies (28 to 31 days,
365 or 366 days), so "1m" would silently mean a different span depending on when a
play runs, and "m" would collide with minutes. Retention by calendar month or year is
what keep_monthly / keep_yearly are for.
"""

import datetime
import re

_UNIT_SECONDS = {
    "w": 7 * 24 * 3600,
    "d": 24 * 3600,
    "h": 3600,
    "m": 60,
    "s": 1,
}

# ASCII digits only: \d would also accept other scripts' digits.
_PAIR = re.compile(r"([0-9]+)([a-z])")
_WHOLE = re.compile(r"(?:[0-9]+[a-z])+")

_ACCEPTED_FORM = "use a number and a unit (s, m, h, d, w), e.g. '90m', '7d' or '1d12h'"


def _invalid(value):
    return ValueError("invalid duration %r: %s" % (value, _ACCEPTED_FORM))


def parse_duration(value):
    """Return the datetime.timedelta that value describes.

    value is a string of one or more number+unit pairs ("36h", "1d12h"; case does not
    matter) or a non-negative int of seconds. Anything else raises ValueError naming
    the value and the accepted form.
    """
    # bool is an int subclass; True meaning "1 second" would only ever be a mistake.
    if isinstance(value, bool):
        raise _invalid(value)
    if isinstance(value, int):
        if value < 0:
            raise _invalid(value)
        return datetime.timedelta(seconds=value)
    if not isinstance(value, str):
        raise _invalid(value)

    text = value.strip().lower()
    if not _WHOLE.fullmatch(text):
        raise _invalid(value)

    seconds = 0
    for number, unit in _PAIR.findall(text):
        if unit not in _UNIT_SECONDS:
            raise _invalid(value)
        seconds += int(number) * _UNIT_SECONDS[unit]
    try:
        return datetime.timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError("invalid duration %r: too long" % (value,))


def format_duration(delta):
    """Return delta in the compact form parse_duration reads back, e.g. "1d12h".

    Weeks are not used (a reader sees "14d" faster than "2w"); sub-second parts are
    dropped. A zero span formats as "0s"; a negative one gets a leading "-" (which
    parse_duration refuses: it only appears in messages).
    """
    sign = ""
    if delta < datetime.timedelta(0):
        sign, delta = "-", -delta
    # Integer arithmetic: total_seconds() is a float and loses whole seconds on long spans.
    total = delta.days * _UNIT_SECONDS["d"] + delta.seconds
    if total == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, total = divmod(total, _UNIT_SECONDS[unit])
        if count:
            parts.append("%d%s" % (count, unit))
    return sign + "".join(parts)
