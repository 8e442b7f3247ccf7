"""Every module's fault campaign, by module name: what test_fault_campaign.py and soak.py run.

Each campaign module has WORLD (its campaign_core.World subclass) and SCENARIOS.
"""

import ami_campaign
import copy_campaign
import orphan_campaign
import snapshot_campaign
import ssm_campaign

CAMPAIGNS = {
    "ami_rotate": ami_campaign,
    "snapshot_rotate": snapshot_campaign,
    "snapshot_copy_generations": copy_campaign,
    "orphan_snapshot_cleanup": orphan_campaign,
    "ssm_run": ssm_campaign,
}
