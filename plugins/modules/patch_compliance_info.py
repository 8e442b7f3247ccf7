#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: patch_compliance_info
short_description: Report the Patch Manager compliance of EC2 instances, per instance and for the fleet
version_added: 0.1.0
description:
  - Reads the patch state SSM Patch Manager recorded for each selected instance at its last scan or install
    (DescribeInstancePatchStates, 50 instances a call) and returns, per instance, the patch counts, the last operation
    and when it ended, the baseline and the reboot option, with a verdict; and a summary of the fleet.
  - An instance is C(non_compliant) when it has missing or failed patches, patches installed but pending a reboot,
    installed patches its baseline rejects, or any non-compliant patch by severity. Not applicable patches never make it
    non-compliant. An instance SSM has no patch state for is C(never_scanned); one whose last scan or install ended more
    than I(max_age) ago is also C(stale).
  - Instances that are stopped, not managed by SSM, or whose SSM agent is offline are listed apart in
    RV(instances_not_ready), each with the reason and its last known patch state, and are not counted in the summary's
    verdicts. Terminated and shutting-down instances are ignored with a warning.
  - With I(details), the patches of each instance are listed too (DescribeInstancePatches, one call per instance).
  - Reads only; supports check mode, and C(changed) is always false.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  instance_ids:
    description:
      - The instances to report on. An id that does not exist fails the task.
      - At most one of I(instance_ids), I(filters) and I(patch_group); with none, every instance of the Region is reported.
    type: list
    elements: str
  filters:
    description:
      - EC2 DescribeInstances filters selecting the instances, for example C(tag:Env) set to C(prod).
      - See U(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html) for the names.
      - Each value is a string or a list of strings. A filter EC2 refuses fails the task, naming it.
    type: dict
  patch_group:
    description:
      - The patch group whose instances to report on, that is the instances tagged C(Patch Group) or C(PatchGroup) with this
        value (SSM takes either key).
      - The instances are selected by their tags, so those of the group that were never scanned are reported as
        C(never_scanned).
      - A patch group that no instance carries is not an error; the task warns.
    type: str
  max_age:
    description:
      - How old an instance's last scan or install may be before it is reported C(stale), such as C(7d) or C(36h).
        Units are C(s), C(m) (minutes), C(h), C(d) and C(w).
    type: str
    default: 7d
  details:
    description: List each instance's patches in RV(instances[].patches).
    type: bool
    default: false
  patch_states:
    description:
      - With I(details), list only the patches in these states, for example C([missing, failed]).
    type: list
    elements: str
    choices: [installed, installed_other, installed_pending_reboot, installed_rejected, missing, failed, not_applicable,
              available_security_update]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - IAM permissions needed are C(ec2:DescribeInstances), C(ssm:DescribeInstanceInformation),
    C(ssm:DescribeInstancePatchStates) and, with I(details), C(ssm:DescribeInstancePatches).
"""

EXAMPLES = r"""
- name: Compliance of the production fleet
  cloudops.aws.patch_compliance_info:
    filters:
      tag:Env: prod
  register: compliance

- name: Fail when an instance misses patches or was not scanned this week
  ansible.builtin.assert:
    that:
      - compliance.summary.non_compliant == 0
      - compliance.summary.never_scanned == 0
      - compliance.summary.stale == 0
    fail_msg: "{{ compliance.instances | rejectattr('compliance', 'eq', 'compliant') | map(attribute='instance_id') | list }}"

- name: The missing and failed patches of one patch group, with their CVEs
  cloudops.aws.patch_compliance_info:
    patch_group: web-prod
    details: true
    patch_states: [missing, failed]
    max_age: 1d
  register: web
"""

RETURN = r"""
instances:
  description: The selected instances SSM can reach (running, managed, agent online), sorted by instance id.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance.
      type: str
      sample: i-0123456789abcdef0
    name:
      description: Its Name tag.
      type: str
      sample: web-1
    compliance:
      description: C(compliant), C(non_compliant) or C(never_scanned).
      type: str
      sample: non_compliant
    stale:
      description: Whether the last scan or install ended more than I(max_age) ago; false when never scanned.
      type: bool
      sample: false
    installed:
      description: Patches of the baseline that are installed. The counts are null when never scanned.
      type: int
      sample: 120
    installed_other:
      description: Installed patches that are not in the baseline.
      type: int
      sample: 4
    installed_pending_reboot:
      description: Patches installed since the last reboot, which need one.
      type: int
      sample: 0
    installed_rejected:
      description: Installed patches that the baseline rejects.
      type: int
      sample: 0
    missing:
      description: Patches of the baseline that apply and are not installed.
      type: int
      sample: 3
    failed:
      description: Patches whose installation failed.
      type: int
      sample: 0
    not_applicable:
      description: Patches of the baseline that do not apply to the instance.
      type: int
      sample: 310
    critical_non_compliant:
      description: Non-compliant patches of critical severity.
      type: int
      sample: 1
    security_non_compliant:
      description: Non-compliant security patches.
      type: int
      sample: 2
    other_non_compliant:
      description: Other non-compliant patches.
      type: int
      sample: 0
    last_operation:
      description: C(Scan) or C(Install); null when never scanned.
      type: str
      sample: Scan
    last_operation_end:
      description: When the last operation ended (UTC, ISO 8601).
      type: str
      sample: "2026-11-23T03:15:02Z"
    patch_group:
      description: The patch group SSM recorded with the state.
      type: str
      sample: web-prod
    baseline_id:
      description: The patch baseline of the last operation.
      type: str
      sample: pb-0123456789abcdef0
    reboot_option:
      description: The reboot option of the last operation, C(RebootIfNeeded) or C(NoReboot).
      type: str
      sample: RebootIfNeeded
    patches:
      description: With I(details), the instance's patches (those in I(patch_states) when given).
      returned: when I(details) is true
      type: list
      elements: dict
      contains:
        title:
          description: The patch's title.
          type: str
          sample: openssl-libs.x86_64:1:3.0.8-1.amzn2023.0.12
        kb_id:
          description: The operating system's id of the patch.
          type: str
          sample: openssl-libs.x86_64
        classification:
          description: Its classification.
          type: str
          sample: Security
        severity:
          description: Its severity.
          type: str
          sample: Important
        state:
          description: Its state on the instance, one of the I(patch_states) choices.
          type: str
          sample: missing
        cve_ids:
          description: The CVEs it resolves (SSM reports them for missing and failed patches).
          type: list
          elements: str
          sample: [CVE-2024-5535]
  sample: [{"instance_id": "i-0123456789abcdef0", "name": "web-1", "compliance": "non_compliant", "stale": false,
            "installed": 120, "installed_other": 4, "installed_pending_reboot": 0, "installed_rejected": 0, "missing": 3,
            "failed": 0, "not_applicable": 310, "critical_non_compliant": 1, "security_non_compliant": 2,
            "other_non_compliant": 0, "last_operation": "Scan", "last_operation_end": "2026-11-23T03:15:02Z",
            "patch_group": "web-prod", "baseline_id": "pb-0123456789abcdef0", "reboot_option": "RebootIfNeeded"}]
instances_not_ready:
  description:
    - The selected instances SSM cannot reach now, with the same keys as RV(instances) (their last known state) and the
      reason.
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0fedcba9876543210", "name": "web-2", "compliance": "never_scanned", "stale": false,
            "reason": "instance is stopped"}]
summary:
  description:
    - The fleet in numbers. C(compliant), C(non_compliant) and C(never_scanned) count RV(instances) by verdict; C(stale)
      counts those of them whose state is older than I(max_age); C(not_ready) counts RV(instances_not_ready).
  returned: always
  type: dict
  sample: {"selected": 12, "compliant": 8, "non_compliant": 2, "never_scanned": 1, "stale": 1, "not_ready": 1}
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import PATCH_STATES
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import PatchComplianceSettings
from ansible_collections.cloudops.aws.plugins.module_utils.patch_states import ComplianceRead
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_commands import ssm_client


def argument_spec():
    return dict(
        instance_ids=dict(type="list", elements="str"),
        filters=dict(type="dict"),
        patch_group=dict(type="str"),
        max_age=dict(type="str", default="7d"),
        details=dict(type="bool", default=False),
        patch_states=dict(type="list", elements="str", choices=list(PATCH_STATES)),
    )


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    settings = checked_settings(module, PatchComplianceSettings.from_params)

    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    ssm = ssm_client(module)
    read = ComplianceRead(ec2, ssm, settings, datetime.datetime.now(datetime.timezone.utc))
    with ending_on_errors(module, "patch_compliance_info", read):
        result = read.run()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
