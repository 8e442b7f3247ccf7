# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for CloudWatch alarms: which named alarms exist, and their states."""

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks

# DescribeAlarms takes at most 100 names a call, and answers at most MaxRecords (up to 100) alarms a page:
# with 100 distinct names and MaxRecords 100, one page holds them all.
NAMES_PER_CALL = 100
OK = "OK"


def alarm_states(cloudwatch, names):
    """{name: {"state": "OK" | "ALARM" | "INSUFFICIENT_DATA", "reason": StateReason}} of the named alarms (metric or
    composite) that exist, 100 names a DescribeAlarms."""
    states = {}
    for chunk in chunks(names, NAMES_PER_CALL):
        answer = cloudwatch.describe_alarms(aws_retry=True, AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"],
                                            MaxRecords=NAMES_PER_CALL)
        for alarm in answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", []):
            states[alarm["AlarmName"]] = {"state": alarm["StateValue"], "reason": alarm.get("StateReason", "")}
    return states


def missing_alarms(cloudwatch, names):
    """Those of `names` that name no CloudWatch alarm (metric or composite) of the Region, in the order given."""
    found = alarm_states(cloudwatch, names)
    return [name for name in names if name not in found]


def not_ok(names, states):
    """Why the named alarms are not OK, in one text ("" when all are): each one's state and reason, or that it is gone."""
    problems = []
    for name in names:
        alarm = states.get(name)
        if alarm is None:
            problems.append("alarm %r no longer exists" % name)
        elif alarm["state"] != OK:
            problems.append("alarm %r is %s%s" % (name, alarm["state"], ": " + alarm["reason"] if alarm["reason"] else ""))
    return "; ".join(problems)
