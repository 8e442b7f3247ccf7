"""Two overlapping runs of the same ami_rotate policy, as two AWX jobs started together.

Both module processes start within about a second of each other with min_interval
set. CreateImage is slowed so that each run reads the policy's images before the other's
backup exists: min_interval alone cannot see the other run, and the runs, a second apart,
make differently named images. The guard in ami_rotation.py must leave one backup per instance,
keep the generations the policy keeps, and never have one run delete the other's backup.
"""

import collections

import pytest

import ami_campaign
import campaign_core


def overlapping_runs(sim, stagger, min_interval="1h"):
    world = ami_campaign.AmiWorld(sim, campaign_core.new_rng(1))
    world.seed()
    # The newer of the two earlier generations: keep_last 2 keeps it next to the new backup.
    yesterday = {}
    for image in sorted(world.managed_images(), key=lambda image: campaign_core.tags_of(image)["cloudops:created-at"]):
        yesterday[campaign_core.tags_of(image)["cloudops:source-instance"]] = image["ImageId"]
    # Slow enough that the later run reads the state before the earlier run's backup lands, even when
    # a busy machine (parallel test workers) starts one module process seconds after the other.
    sim.configure(latency={"actions": {"CreateImage": 6}}, ami_available_after=0.5)
    results = world.run_overlapping(stagger, min_interval=min_interval)
    world.calm()
    return world, results, yesterday


def created(result):
    return {image["image_id"] for image in result.get("images_created", [])}


def created_by_instance(result):
    return {image["instance_id"]: image["image_id"] for image in result.get("images_created", [])}


def deregistered(result):
    return {image["image_id"] for image in result.get("images_deregistered", [])}


@pytest.mark.parametrize("stagger", [0.0, 1.2])
def test_overlapping_runs_leave_one_backup_and_keep_the_policy(sim, stagger):
    world, (first, second), yesterday = overlapping_runs(sim, stagger)

    assert not first.get("failed"), first.get("msg")
    assert not second.get("failed"), second.get("msg")
    # Neither run deletes what the other one created.
    assert not deregistered(first) & created(second)
    assert not deregistered(second) & created(first)
    # Where the two runs' images of an instance differ (made in different seconds, so differently named), one
    # run deregistered its duplicate, naming the backup kept; where they are one image (one name), nothing was.
    first_images, second_images = created_by_instance(first), created_by_instance(second)
    twice = [i for i in first_images if i in second_images and first_images[i] != second_images[i]]
    duplicates = [image for result in (first, second) for image in result["images_deregistered"] if image["reason"].startswith("duplicate")]
    assert len(duplicates) == len(twice)
    by_instance = collections.defaultdict(list)
    for image in world.managed_images():
        by_instance[campaign_core.tags_of(image)["cloudops:source-instance"]].append(image)
    for instance_id in world.instances.values():
        images = sorted(by_instance[instance_id], key=lambda image: campaign_core.tags_of(image)["cloudops:created-at"])
        fresh = [image for image in images if image["ImageId"] in created(first) | created(second)]
        # One backup per instance from the two runs, and yesterday's generation still there
        # (keep_last 2: the new backup and the one before it).
        assert len(fresh) == 1, [image["Name"] for image in images]
        assert len(images) == ami_campaign.KEEP_LAST and all(image["State"] == "available" for image in images), [image["Name"] for image in images]
        assert images[0]["ImageId"] == yesterday[instance_id]
    # The campaign's "kept" check counts every image ever available as a generation; here the
    # deregistered duplicate was one backup too many, so kept is asserted above instead.
    violations = world.violations()
    del violations["kept"]
    assert {name: problems for name, problems in violations.items() if problems} == {}
