import boto3
import pytest
from botocore.config import Config

from simulator.client import running_simulator

# One attempt: the tests assert on what the simulator answers, not on botocore's retries.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="session")
def simulator():
    with running_simulator() as client:
        yield client


@pytest.fixture
def sim(simulator):
    simulator.reset()
    return simulator


@pytest.fixture
def aws(sim):
    """A factory of boto3 clients for the simulator, without retries."""

    def client(service, region="us-east-1"):
        return boto3.client(
            service, endpoint_url=sim.endpoint, region_name=region,
            aws_access_key_id="testing", aws_secret_access_key="testing", config=NO_RETRIES,
        )

    return client


@pytest.fixture
def ec2(aws):
    return aws("ec2")


@pytest.fixture
def instance(sim):
    """A running instance with a root volume and two data volumes, as {'id', 'volumes'}."""
    seeded = sim.seed({"instances": [{
        "name": "app-1",
        "tags": {"Role": "app"},
        "volumes": [
            {"device": "/dev/xvda", "size": 8},
            {"device": "/dev/sdf", "size": 100},
            {"device": "/dev/sdg", "size": 30},
        ],
    }]})
    return {"id": seeded["instances"]["app-1"], "volumes": seeded["volumes"]["app-1"]}
