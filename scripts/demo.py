"""The demo: back up a small fleet twice on the local AWS simulator and show the generations.

Run through `make demo`, which creates the virtualenv and the collections path first.
"""

import os
import subprocess
import sys
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from simulator.client import running_simulator  # noqa: E402  (needs the path above)

FLEET = REPO / "tests" / "simulator" / "fleets" / "demo.yml"
# keep_last 1 makes the second run rotate; min_interval off so the runs do not skip each other.
EXTRA_VARS = '{"ami_backup_retention": {"keep_last": 1}, "ami_backup_min_interval": ""}'


def run_backup(env, number):
    print("\n=== backup run %d: ansible-playbook playbooks/backup.yml ===" % number, flush=True)
    subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO / "inventories" / "simulator" / "hosts.yml"),
         str(REPO / "playbooks" / "backup.yml"), "-e", EXTRA_VARS],
        env=env, check=True, cwd=REPO)


def print_generations(ec2, title):
    names = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            names[instance["InstanceId"]] = (tags.get("Name", "-"), instance["State"]["Name"])
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Images"]
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Snapshots"]
    print("\n--- %s: %d managed AMIs, %d managed snapshots ---" % (title, len(images), len(snapshots)))
    print("%-8s %-8s %-20s %-22s %-21s %s" % ("instance", "state", "instance id", "image id", "created-at", "snapshots"))
    for image in sorted(images, key=lambda i: (names.get(_tag(i, "cloudops:source-instance"), ("",))[0], _tag(i, "cloudops:created-at"))):
        source = _tag(image, "cloudops:source-instance")
        name, state = names.get(source, ("?", "?"))
        snapshot_count = sum(1 for m in image["BlockDeviceMappings"] if "Ebs" in m)
        print("%-8s %-8s %-20s %-22s %-21s %d" % (name, state, source, image["ImageId"], _tag(image, "cloudops:created-at"), snapshot_count))


def _tag(resource, key):
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), "")


def main():
    print("Starting the local AWS simulator with the demo fleet (%s)" % FLEET.relative_to(REPO), flush=True)
    with running_simulator(fleet=FLEET, ami_available_after=1) as sim:
        env = dict(os.environ, **sim.env)
        env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / "build" / "collections")
        ec2 = boto3.client("ec2", endpoint_url=sim.endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        run_backup(env, 1)
        print_generations(ec2, "after run 1")
        run_backup(env, 2)
        print_generations(ec2, "after run 2 (keep_last 1: the first generation was deregistered, its snapshots deleted)")
        calls = sim.calls()
        print("\n%d AWS API calls in all; mutating: %s" % (len(calls), ", ".join(
            "%s x%d" % (action, sum(1 for c in calls if c["action"] == action))
            for action in ("CreateImage", "DeregisterImage", "DeleteSnapshot"))))
    print("Simulator stopped.")


if __name__ == "__main__":
    main()
