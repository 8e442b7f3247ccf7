"""ssm_instances.target_filters: SendCommand targets as the filters of the two describes that tell what they reach."""

from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import target_filters

LIVE_STATES = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}


def test_tag_and_instance_id_targets_become_ssm_and_ec2_filters_in_the_order_given():
    targets = [{"Key": "tag:Role", "Values": ["web"]}, {"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]},
               {"Key": "tag-key", "Values": ["Backup"]}]

    ssm_filters, ec2_filters = target_filters(targets)

    assert ssm_filters == [{"Key": "tag:Role", "Values": ["web"]}, {"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]},
                           {"Key": "tag-key", "Values": ["Backup"]}]
    assert ec2_filters == [LIVE_STATES, {"Name": "tag:Role", "Values": ["web"]}, {"Name": "instance-id", "Values": ["i-0123456789abcdef0"]},
                           {"Name": "tag-key", "Values": ["Backup"]}]


def test_a_resource_group_target_has_no_filters_even_beside_a_tag():
    assert target_filters([{"Key": "tag:Role", "Values": ["web"]}, {"Key": "resource-groups:Name", "Values": ["shop"]}]) is None
