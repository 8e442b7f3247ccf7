#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: instance_schedule
short_description: Start and stop EC2 instances on schedules of running periods, and verify they got there
version_added: 0.1.0
description:
  - Starts and stops the EC2 instances that carry the schedule tag (I(tag_key), C(Schedule) by default) as their
    schedule wants at I(now). The tag's value names the schedule. The schedules are data, in AWS Instance Scheduler's
    vocabulary - periods with C(begintime), C(endtime), C(weekdays), C(monthdays) and C(months), a C(timezone) per
    schedule, C(holidays) and C(override_status); see docs/schedule.md.
  - One paginated C(DescribeInstances) selects the instances; only those whose state differs from the wanted one are
    started or stopped, in batched C(StartInstances) and C(StopInstances) calls. Each is then waited for until it is
    running or stopped, within I(verify_timeout); one that is not fails, with the state it was in. The task fails at
    the end when any did, with the whole report.
  - With C(enforced=false) (the default), a schedule acts only on the first run after each of its edges (where the
    state it wants changes), so an instance started or stopped by hand in between is left as it is until the next
    edge. The edge acted on is recorded on each instance in the tag C(cloudops:schedule-applied). With
    C(enforced=true), every run corrects the state. C(override_status) is enforced.
  - C(retain_running=true) leaves running at the end of a period an instance that was already running when the
    period began. C(hibernate=true) hibernates instances launched with hibernation configured, and stops the others,
    saying so.
  - Never touched, each reported in RV(instances_skipped) with the reason - Auto Scaling group members (tag
    C(aws:autoscaling:groupName)); instances with an AMI or a snapshot of this collection pending; instances in a
    patch or deploy run of this collection (tag C(cloudops:maintenance), until the time it holds); instances tagged
    C(cloudops:schedule-skip); instances on their way to another state than the wanted one; instances whose schedule
    is not one of I(schedules).
  - Every option and every schedule is checked before any AWS call; a mistake fails the task naming the schedule,
    the field and the value.
  - Supports check mode (the plan for I(now), nothing changed) and diff mode.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  schedules:
    description:
      - The schedules, each a dict. C(name) (required) is the value of the schedule tag it applies to.
      - C(periods) is a list of period names (from I(periods)) or period dicts. A schedule runs its instances while any
        period says running.
      - C(timezone) is an IANA time zone name (default I(timezone)); periods and holidays are read in it.
      - C(holidays) is a list of dates, C(YYYY-MM-DD), or C(MM-DD) for every year; on those days the schedule wants
        C(holiday_state) (C(stopped) by default, or C(running)) all day.
      - C(override_status), C(running) or C(stopped), holds every instance of the schedule in that state, every run,
        whatever the periods say.
      - C(enforced), C(retain_running) and C(hibernate) are booleans; unset, the module's options of the same names apply.
      - C(description) is free text.
    type: list
    elements: dict
    required: true
  periods:
    description:
      - Named periods the schedules refer to. A period is a dict with C(name), C(begintime) and C(endtime)
        (C(HH:MM), wall-clock time in the schedule's time zone; an endtime before the begintime crosses midnight),
        C(weekdays) (C(mon-fri), C(sat,sun), C(mon#1) the first Monday of the month, C(friL) the last Friday),
        C(monthdays) (C(1-15), C(L) the last day, C(15W) the weekday nearest the 15th, C(1/7) every 7th day from the 1st)
        and C(months) (C(jan-mar), C(nov-feb), C(jan/3)). A day must match every one of weekdays, monthdays and months
        the period sets.
      - Quote times. YAML reads an unquoted C(17:30) as the number 1050; such a number is taken as minutes after midnight.
    type: list
    elements: dict
    default: []
  tag_key:
    description: The tag whose value names an instance's schedule. Instances without it are not selected.
    type: str
    default: Schedule
  filters:
    description:
      - More EC2 DescribeInstances filters, to narrow the selection, for example C(tag:Environment) set to C(dev). The
        schedule tag and the states C(pending), C(running), C(stopping) and C(stopped) are always filtered on.
    type: dict
    default: {}
  now:
    description:
      - The instant to decide for, ISO 8601 with a UTC offset (C(2026-11-27T19:00:00+01:00), or C(Z) for UTC). Not set,
        the time of the run. With check mode, it answers "what happens at 19:00 on Friday".
    type: str
  timezone:
    description: The time zone of schedules that do not set C(timezone), an IANA name.
    type: str
    default: UTC
  enforced:
    description:
      - For schedules that do not set C(enforced). C(false) acts on the first run after each edge of the schedule only,
        leaving hand-made changes in between; C(true) corrects the state on every run.
    type: bool
    default: false
  retain_running:
    description:
      - For schedules that do not set C(retain_running). C(true) does not stop, at the end of a period, an instance that
        was already running when the period began (as the first run after the beginning found it).
    type: bool
    default: false
  hibernate:
    description:
      - For schedules that do not set C(hibernate). C(true) hibernates, instead of stopping, the instances launched with
        hibernation configured (C(HibernationOptions.Configured)); the others are stopped, and the report says so.
    type: bool
    default: false
  verify_timeout:
    description:
      - How long to wait for the instances started or stopped to be running or stopped, in seconds. One that is not by
        then fails. C(0) does not wait (the status is then C(requested)).
    type: int
    default: 600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Run it every few minutes (an AWX schedule, cron). A run with nothing to change makes one C(DescribeInstances)
    call and changes nothing.
  - With C(enforced=false), the first run after an edge acts; when runs are missed, the next one still acts on the
    latest edge. An instance without the C(cloudops:schedule-applied) tag (newly tagged) is brought to the wanted state
    by the next run.
  - "IAM permissions: C(ec2:DescribeInstances), C(ec2:DescribeImages), C(ec2:DescribeSnapshots), C(ec2:StartInstances),
    C(ec2:StopInstances) and C(ec2:CreateTags) on instances (with encrypted volumes, the KMS key's C(kms:CreateGrant)
    for starting them)."
"""

EXAMPLES = r"""
- name: Office hours in Berlin, weekends and public holidays off
  cloudops.aws.instance_schedule:
    periods:
      - name: office-hours
        begintime: "07:00"
        endtime: "19:00"
        weekdays: mon-fri
    schedules:
      - name: office
        periods: [office-hours]
        timezone: Europe/Berlin
        holidays: ["01-01", "12-25", "12-26", "2026-04-03"]
      - name: batch-nights
        periods:
          - begintime: "22:00"
            endtime: "05:00"
        timezone: Europe/Berlin
        enforced: true
  register: schedule

- name: What would happen at 19:00 on Friday?
  cloudops.aws.instance_schedule:
    schedules: "{{ cloudops_schedules }}"
    now: "2026-11-27T19:00:00+01:00"
  check_mode: true
  register: friday_evening

- name: Keep every instance of the schedule office running through an incident
  cloudops.aws.instance_schedule:
    schedules:
      - name: office
        override_status: running

- name: The first Monday of each quarter, month-end closing on the last working days, hibernating where possible
  cloudops.aws.instance_schedule:
    tag_key: cost-schedule
    schedules:
      - name: finance
        timezone: America/New_York
        hibernate: true
        periods:
          - {begintime: "06:00", endtime: "20:00", weekdays: "mon#1", months: "jan/3"}
          - {begintime: "06:00", endtime: "23:59", monthdays: "25-L", weekdays: mon-fri}
"""

RETURN = r"""
now:
  description: The instant the run decided for, ISO 8601 UTC.
  returned: always
  type: str
  sample: "2026-11-27T18:00:00Z"
schedules:
  description:
    - Each schedule at RV(now) - the state it wants (C(running), C(stopped), or C(any) when no period decides) and why,
      its latest and next edge (null when none in over a year, or under an override), and whether it is enforced.
  returned: always
  type: dict
  sample:
    office:
      state: stopped
      reason: "outside every period at Fri 2026-11-27 19:00 Europe/Berlin"
      last_edge: "2026-11-27T18:00:00Z"
      next_edge: "2026-11-30T06:00:00Z"
      next_state: running
      enforced: false
instances:
  description: Every instance carrying the schedule tag, in the order of their ids.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: Its id.
      type: str
      sample: i-0123456789abcdef0
    name:
      description: The value of its C(Name) tag.
      type: str
      sample: dev-1
    schedule:
      description: The value of its schedule tag.
      type: str
      sample: office
    state_before:
      description: Its state when the run began.
      type: str
      sample: running
    desired_state:
      description: The state its schedule wants; null when no period decides.
      type: str
      sample: stopped
    action:
      description: C(start), C(stop), C(hibernate), or C(none).
      type: str
      sample: stop
    status:
      description:
        - C(changed) (started, stopped or hibernated, and verified), C(requested) (I(verify_timeout=0)), C(planned)
          (check mode), C(unchanged), C(skipped) or C(failed).
      type: str
      sample: changed
    reason:
      description: Why - the period, holiday or override behind the wanted state, or why it was left alone or failed.
      type: str
      sample: "outside every period at Fri 2026-11-27 19:00 Europe/Berlin"
    state_after:
      description: Its state at the end of the run, as the last read saw it (in check mode, the state it would reach).
      type: str
      sample: stopped
    applied:
      description: The value written in its C(cloudops:schedule-applied) tag by this run; absent when none was written.
      type: str
      sample: "stopped 2026-11-27T18:00:00Z"
started:
  description: The ids of the instances started (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: ["i-0123456789abcdef0"]
stopped:
  description: The ids of the instances stopped, not hibernated (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: ["i-0123456789abcdef1"]
hibernated:
  description: The ids of the instances hibernated (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: []
instances_skipped:
  description: The instances left alone whatever their schedule says, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0123456789abcdef2", "reason": "member of Auto Scaling group web, which decides whether its instances run"}]
failures:
  description: The instances EC2 refused to start or stop, or that did not reach their state within I(verify_timeout).
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0123456789abcdef3", "error": "not stopped within verify_timeout (600s): stopping"}]
totals:
  description: How many instances ended in each status, and C(instances), how many carry the schedule tag.
  returned: always
  type: dict
  sample: {"instances": 4, "changed": 2, "requested": 0, "planned": 0, "unchanged": 1, "skipped": 1, "failed": 0}
diff:
  description: In diff mode, the state of each instance started or stopped, before and after.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"i-0123456789abcdef0": "stopped"}, "after": {"i-0123456789abcdef0": "running"}}
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.instance_schedule import ScheduleRun
from ansible_collections.cloudops.aws.plugins.module_utils.instance_schedule_settings import ScheduleSettings
from ansible_collections.cloudops.aws.plugins.module_utils.instance_schedule_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_with_failures


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    settings = checked_settings(module, ScheduleSettings.from_params, clock=lambda: datetime.datetime.now(datetime.timezone.utc))

    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    run = ScheduleRun(ec2, settings, check_mode=module.check_mode)
    with ending_on_errors(module, "instance_schedule", run):
        result = run.run()
    if module._diff:
        result["diff"] = run.diff()
    exit_with_failures(module, "instance_schedule", "instance_id", result)


if __name__ == "__main__":
    main()
