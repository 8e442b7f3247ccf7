"""Describes of a large account (200 instances, 1000 images) answer completely, filters and pages included.

How fast they answer is measured by the benchmarks (make bench), not asserted here: a timed
assertion fails on a busy machine and proves nothing on an idle one.
"""

from concurrent.futures import ThreadPoolExecutor


def test_describes_of_a_large_account_answer_completely(sim, ec2):
    instance_ids = list(sim.seed({"instances": [{"name": "big", "count": 200, "tags": {"Role": "x"}}]})["instances"].values())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: ec2.create_image(
            InstanceId=instance_ids[n % 200], Name=f"image-{n}",
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "cloudops:policy", "Value": "daily"}]}],
        ), range(1000)))
    assert len(ec2.describe_images(Owners=["self"])["Images"]) == 1001
    filtered = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:cloudops:policy", "Values": ["daily"]}])
    assert len(filtered["Images"]) == 1000
    paginator = ec2.get_paginator("describe_instances")
    assert sum(len(r["Instances"]) for page in paginator.paginate() for r in page["Reservations"]) == 200
