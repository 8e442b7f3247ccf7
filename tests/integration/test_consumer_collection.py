"""Another team's collection (tests/consumer/ansible_collections/acme/ops) includes this collection's roles by
their fully qualified names and sets the Region once with `module_defaults: group/cloudops.aws.aws`.

One ansible-playbook run of acme.ops.site over two targets in us-west-2 (the environment says us-east-1,
so only module_defaults can bring the modules there): one backs up the instances tagged Backup=nightly;
the other passes cloudops.aws.ami_backup a retention that its argument_specs refuse, naming the variable,
before any AWS call of that target.
"""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from aws_state import tags_of
from conftest import COLLECTIONS
from conftest import REPO
from conftest import ansible_env
from conftest import aws_client

CONSUMER = REPO / "tests" / "consumer"
DEMO_FLEET = REPO / "tests" / "simulator" / "fleets" / "demo.yml"


def test_consumer_collection_includes_the_roles_and_argument_specs_refuse_bad_input(sim, tmp_path):
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    fleet["region"] = "us-west-2"
    for group in fleet["instances"]:
        if "Backup" in group.get("tags", {}):
            group["tags"]["Backup"] = "nightly"
    instances = sim.seed(fleet)["instances"]
    tagged = {instance_id for name, instance_id in instances.items() if name != "db-old"}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"acme_targets": {
        "hosts": {
            "acme-west": {"acme_region": "us-west-2"},
            "acme-refused": {"acme_region": "us-west-2", "nightly_policy": "refused", "nightly_retention": "seven"},
        },
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
    }}))
    env = dict(ansible_env(sim), ANSIBLE_COLLECTIONS_PATH="%s:%s" % (CONSUMER, COLLECTIONS), ANSIBLE_SHOW_CUSTOM_STATS="true")
    assert env["AWS_REGION"] == "us-east-1"

    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "acme.ops.site"],
                         env=env, capture_output=True, text=True, timeout=300, check=False)

    assert run.returncode == 2, run.stdout + run.stderr  # a host failed
    output = json.loads(run.stdout)
    results = {}
    for play in output["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                results.setdefault(host, []).append((task["task"]["name"], result))

    refused = [(name, result) for name, result in results["acme-refused"] if result.get("failed")]
    assert len(refused) == 1 and refused[0][0].startswith("cloudops.aws.ami_backup : Validating arguments against arg spec 'main'"), refused
    assert "argument 'ami_backup_retention' is of type str" in refused[0][1]["msg"], refused[0][1]["msg"]
    assert not [name for name, _result in results["acme-refused"] if name.startswith(("cloudops.aws.ami_backup : Back up", "acme.ops.nightly : Read"))]

    assert not [name for name, result in results["acme-west"] if result.get("failed")]
    west = aws_client(sim, "ec2", "us-west-2")
    images = west.describe_images(Owners=["self"], Filters=[{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Images"]
    assert {tags_of(image)["cloudops:source-instance"] for image in images} == tagged
    assert {tags_of(image)["cloudops:policy"] for image in images} == {"nightly"}  # none from the refused target
    assert aws_client(sim, "ec2", "us-east-1").describe_images(Owners=["self"])["Images"] == []
    # amazon.aws's module took the Region from the same group's defaults.
    report = dict(results["acme-west"])["acme.ops.nightly : Report the images"]["msg"]
    assert report == "nightly: %d image(s) in us-west-2" % len(tagged)
    assert output["global_custom_stats"]["ami_backup_failed_targets"] == []
    assert output["global_custom_stats"]["ami_backup_totals"]["acme-west/nightly"]["created"] == len(tagged)
