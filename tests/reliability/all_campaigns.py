"""Every module's fault campaign, by module name: what test_fault_campaign.py and soak.py run.

Each campaign module has WORLD (its campaign_core.World subclass) and SCENARIOS.
"""

import ami_campaign

CAMPAIGNS = {
    "ami_rotate": ami_campaign,
}
