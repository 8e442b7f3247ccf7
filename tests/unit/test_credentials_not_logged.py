"""The tasks that get credentials back in their result keep them out of the output (no_log: true).

amazon.aws.sts_assume_role returns the temporary secret key and session token in its result, which
ansible-playbook prints from -v on and AWX keeps in the job output. Every playbook and role that assumes a
role (aws_role_arn) marks the task no_log; tests/integration/test_no_secret_printed.py shows the output at
-vvv free of them. New playbooks and roles are picked up.
"""

import pytest

from procedure_specs import REPO
from procedure_specs import flat_tasks
from procedure_specs import load_yaml
from procedure_specs import play_tasks
from procedure_specs import playbook_paths
from procedure_specs import plays

# Modules whose result holds a secret.
RETURNS_SECRETS = {"amazon.aws.sts_assume_role", "sts_assume_role", "community.aws.sts_session_token", "amazon.aws.sts_session_token"}


def task_lists():
    """(where, tasks) of every playbook and role task file."""
    for path in playbook_paths():
        for play in plays(path):
            yield str(path.relative_to(REPO)), play_tasks(play)
    for path in sorted(REPO.glob("roles/*/tasks/*.yml")) + sorted(REPO.glob("roles/*/handlers/*.yml")):
        yield str(path.relative_to(REPO)), list(flat_tasks(load_yaml(path) or []))


def secret_tasks():
    return [(where, task) for where, tasks in task_lists() for task in tasks if RETURNS_SECRETS & set(task)]


def test_the_playbooks_assume_roles():
    assert {where for where, _task in secret_tasks()} >= {"playbooks/backup.yml", "playbooks/patch.yml", "playbooks/deploy.yml"}


@pytest.mark.parametrize("where,task", secret_tasks(), ids=lambda value: value if isinstance(value, str) else value.get("name", ""))
def test_tasks_returning_credentials_are_no_log(where, task):
    assert task.get("no_log") is True, "%s: %r prints the credentials it gets from -v on; set no_log: true" % (where, task.get("name"))
