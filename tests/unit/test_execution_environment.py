"""execution-environment.yml renders a build context that holds what AWX needs to run the collection.

No container engine runs here, so the image is not built: `ansible-builder create` renders the
context (Containerfile, the collection tarball, the galaxy requirements, ansible-builder's scripts),
and ansible-builder's own introspection script, run over the tarball's contents as the image build
runs it over the installed collections, gives the Python and system packages the image gets.
"""

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
TARBALL = "%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])
# ansible-builder's introspection leaves these out of a collection's requirements (the image pins ansible-core itself).
NOT_FROM_COLLECTIONS = {"ansible", "ansible-core"}


def requirements(path):
    """{name: Requirement} of a pip requirements file (comments and includes left out)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {req.name: req for req in (Requirement(line) for line in lines if line and not line.startswith("-"))}


def installed_amazon_aws():
    import ansible_collections.amazon.aws as amazon_aws  # the one the tests run against, from the ansible package
    return json.loads((Path(amazon_aws.__path__[0]) / "MANIFEST.json").read_text())["collection_info"]["version"]


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """(build context, the tarball) rendered as `make ee` renders them, in a scratch directory."""
    work = tmp_path_factory.mktemp("ee")
    (work / "execution-environment.yml").write_text((REPO / "execution-environment.yml").read_text())
    dist = work / "build" / "ee"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(REPO)],
                   check=True, capture_output=True, text=True, timeout=120)
    created = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(work / "execution-environment.yml"),
                              "-c", str(work / "context"), "--output-filename", "Containerfile"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "WARNING" not in created.stdout + created.stderr, created.stdout + created.stderr
    return work / "context", dist / TARBALL


def test_definition_is_schema_version_3():
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"]


def test_containerfile_installs_the_pinned_ansible_core_and_runner_then_the_collections(context):
    containerfile = (context[0] / "Containerfile").read_text()
    core = requirements(REPO / "requirements.txt")["ansible-core"]
    runner = requirements(REPO / "requirements-dev.txt")["ansible-runner"]
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="(.*)"$', containerfile, re.M).group(1).split()
    assert sorted(refs) == sorted([str(core), str(runner)])
    stages = re.findall(r"^FROM \S+ AS (\w+)$", containerfile, re.M)
    assert stages == ["base", "galaxy", "builder", "final"]
    assert re.search(r"^RUN .*ansible-galaxy collection install .*-r requirements\.yml", containerfile, re.M)
    # The builder stage reads the installed collections' requirements.txt and bindep.txt.
    assert re.search(r"^RUN \$PYCMD /output/scripts/introspect\.py introspect ", containerfile, re.M)
    assert "RUN /output/scripts/install-from-bindep" in containerfile
    assert "LABEL ansible-execution-environment=true" in containerfile


def test_context_holds_the_collection_tarball_that_galaxy_installs(context):
    build_dir, built = context
    copied = build_dir / "_build" / "collections" / TARBALL
    assert copied.read_bytes() == built.read_bytes()
    with tarfile.open(copied) as tarball:
        manifest = json.load(tarball.extractfile("MANIFEST.json"))["collection_info"]
        names = set(tarball.getnames())
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])
    assert {"meta/runtime.yml", "requirements.txt", "bindep.txt", "playbooks/backup.yml", "roles/ami_backup/meta/argument_specs.yml"} <= names
    assert not [name for name in names if name.startswith((".venv", "build/", "tests/output"))]

    galaxy = yaml.safe_load((build_dir / "_build" / "requirements.yml").read_text())
    collections = {entry["name"]: entry for entry in galaxy["collections"]}
    # The galaxy stage runs in /build, where _build/ is copied.
    assert collections["collections/" + TARBALL].get("type") == "file"
    pinned = collections["amazon.aws"]["version"]
    assert installed_amazon_aws() in SpecifierSet(pinned), "amazon.aws %s in the image, %s in the tests" % (pinned, installed_amazon_aws())
    assert installed_amazon_aws() in SpecifierSet(GALAXY["dependencies"]["amazon.aws"])
    assert set(collections) == {"collections/" + TARBALL, "amazon.aws"}


def test_image_gets_the_runtime_requirements_and_bindep_packages_of_the_collection(context, tmp_path):
    build_dir, built = context
    collection = tmp_path / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    collection.mkdir(parents=True)
    with tarfile.open(built) as tarball:
        tarball.extractall(collection, filter="data")
    # The same script the image's builder stage runs, over the collection as ansible-galaxy installs it.
    introspected = subprocess.run(
        [sys.executable, str(build_dir / "_build" / "scripts" / "introspect.py"), "introspect", str(tmp_path),
         "--write-pip", str(tmp_path / "pip.txt"), "--write-bindep", str(tmp_path / "bindep.txt")],
        capture_output=True, text=True, timeout=60, check=False)
    assert introspected.returncode == 0, introspected.stdout + introspected.stderr

    ours = "# from collection %s.%s" % (GALAXY["namespace"], GALAXY["name"])
    pip = [line.split("  #")[0] for line in (tmp_path / "pip.txt").read_text().splitlines() if line.endswith(ours)]
    runtime = {name: str(req) for name, req in requirements(REPO / "requirements.txt").items() if name not in NOT_FROM_COLLECTIONS}
    assert runtime, "requirements.txt names no runtime requirement"
    assert sorted(pip) == sorted(runtime.values())
    system = [line.split("  #")[0] for line in (tmp_path / "bindep.txt").read_text().splitlines() if line.endswith(ours)]
    declared = [line for line in (REPO / "bindep.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert system == declared and declared
