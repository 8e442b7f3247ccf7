# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The options every module that keeps generations shares (ami_rotate, snapshot_rotate, ...).
    DOCUMENTATION = r"""
options:
  policy:
    description:
      - The generation group, stored in the C(cloudops:policy) tag. Each policy rotates on its own, so
        C(daily) and C(pre-patch) backups of one source never prune each other.
    type: str
    default: default
  retention:
    description:
      - Which generations to keep, per source. The rules are combined (a backup kept by any rule is kept),
        as C(restic forget) does. At least one rule is required.
      - Only finished backups (C(available) AMIs, C(completed) snapshots) count as generations; C(pending) ones are
        always kept, C(failed) or C(error) managed ones are deleted.
    type: dict
    required: true
    suboptions:
      keep_last:
        description: Keep the newest N generations. Must be at least 1 when given.
        type: int
      keep_hourly:
        description: For the last N hours that have a generation, keep the newest generation of each hour (UTC).
        type: int
      keep_daily:
        description: For the last N days that have a generation, keep the newest of each day (UTC).
        type: int
      keep_weekly:
        description: For the last N ISO weeks that have a generation, keep the newest of each week.
        type: int
      keep_monthly:
        description: For the last N months that have a generation, keep the newest of each month.
        type: int
      keep_yearly:
        description: For the last N years that have a generation, keep the newest of each year.
        type: int
      keep_within:
        description:
          - Keep every generation created within this duration of the newest generation, such as C(30d) or C(36h).
          - Units are C(s), C(m) (minutes), C(h), C(d) and C(w).
          - Measured from the newest generation, not from now, so a paused schedule never ages every backup out.
        type: str
  tags:
    description:
      - Extra tags for the backups. Keys starting with C(cloudops:) are reserved.
    type: dict
    default: {}
  min_interval:
    description:
      - Skip a source whose newest backup (finished, or pending as a backup in progress) is younger than this,
        such as C(20h). Makes a retried or overlapping job cheap and free of duplicates.
    type: str
  wait:
    description:
      - Wait for the new backups to finish before pruning, with one describe call a round for all of them.
      - A source is pruned once its own new backup is finished, in batches while the other backups are still being
        created, not only after the whole selection's.
      - With C(false) the new backups are pending when pruning runs and do not count as generations yet;
        the next run prunes with them.
    type: bool
    default: true
  wait_timeout:
    description: How many seconds to wait for new backups. Backups still pending then are reported in a warning.
    type: int
    default: 1800
  max_concurrency:
    description:
      - How many AWS calls of one kind (creates; deletes) run in parallel. Sources are pruned while others are still
        being created, so up to twice this many calls can be in flight.
      - Once AWS throttles an action (C(RequestLimitExceeded)), its further calls are spread at the refill rate AWS
        documents for that action's request token bucket, instead of being retried into an empty bucket.
    type: int
    default: 10
  keep_verified:
    description:
      - "Also keep the newest N generations of each source that a restore drill verified (tagged
        C(cloudops:verify-result=passed) by M(cloudops.aws.restore_drill)), even when the retention would delete them.
        Their reason starts with C(keep_verified) and gives the time the drill passed."
      - C(0) keeps no more than the retention does.
    type: int
    default: 0
"""
