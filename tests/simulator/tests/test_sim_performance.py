"""Describes of a large account (200 instances, 1000 images) answer completely, filters and pages
included, and cheaply.

Cheaply is the simulator's own CPU time per answer (`cpu_ms` in the call log), well under a
second: wall time would also count the test workers and other processes sharing a busy machine.
The benchmarks (make bench) measure the wall time of a whole module run.
"""

from concurrent.futures import ThreadPoolExecutor


def test_describes_of_a_large_account_answer_completely_and_cheaply(sim, ec2):
    instance_ids = list(sim.seed({"instances": [{"name": "big", "count": 200, "tags": {"Role": "x"}}]})["instances"].values())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: ec2.create_image(
            InstanceId=instance_ids[n % 200], Name=f"image-{n}",
            TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "cloudops:policy", "Value": "daily"}]}],
        ), range(1000)))
    sim.clear_log()

    assert len(ec2.describe_images(Owners=["self"])["Images"]) == 1001
    filtered = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:cloudops:policy", "Values": ["daily"]}])
    assert len(filtered["Images"]) == 1000
    paginator = ec2.get_paginator("describe_instances")
    assert sum(len(r["Instances"]) for page in paginator.paginate() for r in page["Reservations"]) == 200

    costs = {c["action"]: c["cpu_ms"] for c in sim.calls()}
    assert costs["DescribeImages"] < 1000
    assert costs["DescribeInstances"] < 1000
