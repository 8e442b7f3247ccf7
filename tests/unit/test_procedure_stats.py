"""Every procedure publishes its results with set_stats, as AWX workflows need them.

AWX passes a job's set_stats data to the next nodes of a workflow only when it is not per host, and as
extra variables, which outrank every other variable: so the data is aggregated (per_host: false,
aggregate: true; keyed by target so that the targets of one job add up), each key carries its role's or
playbook's prefix, and no key is the name of a variable any role or playbook reads (a backup's stats
must not override the patch role's variables in the node after it). A role publishes before it fails:
the tasks that change AWS before the stats ignore their errors, and the role fails in a later task.

New playbooks and roles are picked up from playbooks/*.yml and roles/*/tasks/*.yml.
"""

import os

import jinja2
import jinja2.meta
import pytest

from procedure_specs import COLLECTION
from procedure_specs import PLAYBOOKS
from procedure_specs import REPO
from procedure_specs import ROLES
from procedure_specs import SET_STATS
from procedure_specs import action_of
from procedure_specs import flat_tasks
from procedure_specs import load_yaml
from procedure_specs import play_tasks
from procedure_specs import playbook_paths
from procedure_specs import plays
from procedure_specs import possible_roles
from procedure_specs import role_task_files
from procedure_specs import stats_tasks

ROLE_DIRS = sorted(path for path in ROLES.iterdir() if (path / "tasks").is_dir())


def role_stats(role):
    return [found for path in role_task_files(role) for found in stats_tasks(load_yaml(path))]


def playbook_stats(playbook):
    return [found for play in plays(playbook) for found in stats_tasks(play_tasks(play))]


def every_stats_task():
    """(where, arguments) of every set_stats task of the roles and playbooks."""
    for role in ROLE_DIRS:
        for _task, args in role_stats(role):
            yield "roles/%s" % role.name, args
    for playbook in playbook_paths():
        for _task, args in playbook_stats(playbook):
            yield "playbooks/%s" % playbook.name, args


def prefixes(where):
    """The prefixes a stats key of a role or playbook may carry: its name, and the one its variables share."""
    kind, name = where.split("/")
    if kind == "playbooks":
        return {name[:-len(".yml")] + "_"}
    options = load_yaml(ROLES / name / "meta" / "argument_specs.yml")["argument_specs"]["main"].get("options") or {}
    shared = os.path.commonprefix(sorted(options))
    return {name + "_"} | ({shared[:shared.rindex("_") + 1]} if "_" in shared else set())


# Keys whose string values are bare Jinja expressions.
EXPRESSIONS = {"when", "that", "failed_when", "changed_when", "until"}


class AnyName(dict):
    """Ansible's filters and tests, as far as finding the variables a template reads needs them."""

    def __contains__(self, name):
        return True

    def __missing__(self, name):
        return lambda *args, **kwargs: None

    def get(self, name, default=None):
        return self[name]


ENV = jinja2.Environment()
ENV.filters = AnyName(ENV.filters)
ENV.tests = AnyName(ENV.tests)


def names_read(value, key=None):
    """The root variable names the Jinja in a YAML value reads."""
    if isinstance(value, dict):
        return set().union(*(names_read(item, name) for name, item in value.items())) if value else set()
    if isinstance(value, list):
        return set().union(*(names_read(item, key) for item in value)) if value else set()
    if isinstance(value, bool) or not isinstance(value, str):
        return set()
    text = "{{ %s }}" % value if key in EXPRESSIONS else value
    if "{{" not in text and "{%" not in text:
        return set()
    return jinja2.meta.find_undeclared_variables(ENV.parse(text))


def names_defined(value):
    """The variable names a task list or play defines: register, set_fact, vars, loop_var."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "register" and isinstance(item, str):
                found.add(item)
            elif key in ("vars", "set_fact", "ansible.builtin.set_fact") and isinstance(item, dict):
                found.update(item)
            elif key == "loop_control" and isinstance(item, dict) and "loop_var" in item:
                found.add(item["loop_var"])
            found |= names_defined(item)
    elif isinstance(value, list):
        for item in value:
            found |= names_defined(item)
    return found


def variable_names():
    """Every variable a role or playbook defines or reads (argument specs, defaults, vars, registers, Jinja)."""
    names = set()
    for role in ROLE_DIRS:
        specs = load_yaml(role / "meta" / "argument_specs.yml")["argument_specs"] if (role / "meta" / "argument_specs.yml").is_file() else {}
        for entry_point in specs.values():
            names.update(entry_point.get("options") or {})
        for folder in ("defaults", "vars"):
            for path in sorted((role / folder).glob("*.yml")):
                content = load_yaml(path) or {}
                names.update(content)
                names |= names_read(content)
        for path in sorted((role / "tasks").glob("*.yml")) + sorted((role / "handlers").glob("*.yml")):
            content = load_yaml(path) or []
            names |= names_read(content) | names_defined(content)
    for path in playbook_paths():
        content = load_yaml(path) or []
        names |= names_read(content) | names_defined(content)
    return names


def test_roles_and_playbooks_are_found():
    assert ROLE_DIRS and playbook_paths()


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda path: path.name)
def test_every_role_publishes_its_results(role):
    assert role_stats(role), "roles/%s publishes nothing with ansible.builtin.set_stats" % role.name


@pytest.mark.parametrize("playbook", playbook_paths(), ids=lambda path: path.name)
def test_every_playbook_publishes_its_results(playbook):
    for play in plays(playbook):
        roles = possible_roles(play)
        published_by_roles = bool(roles) and all(role_stats(ROLES / name[len(COLLECTION) + 1:]) for name in roles)
        assert stats_tasks(play_tasks(play)) or published_by_roles, \
            "%s: play %r publishes nothing (set_stats in the play or in every role it includes)" % (playbook.name, play.get("name"))


def test_stats_are_aggregated_and_not_per_host():
    found = list(every_stats_task())
    assert found
    for where, args in found:
        assert args.get("aggregate") is True and args.get("per_host") is False, \
            "%s: set_stats needs aggregate: true and per_host: false (AWX passes no per-host stats to workflow nodes)" % where


def test_stats_keys_carry_their_prefix_and_are_not_variables_read_anywhere():
    definitions = {}
    for where, args in every_stats_task():
        for key in args["data"]:
            assert any(key.startswith(prefix) or key == prefix[:-1] for prefix in prefixes(where)), \
                "%s publishes %s, without its prefix %s" % (where, key, " or ".join(sorted(prefixes(where))))
            definitions.setdefault(key, set()).add(where)
    variables = variable_names()
    for key, wheres in definitions.items():
        assert len(wheres) == 1, "%s is published by %s" % (key, sorted(wheres))
        assert key not in variables, "%s is also a variable of the roles or playbooks: a workflow's next job would get it" % key


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda path: path.name)
def test_a_role_publishes_before_it_can_fail(role):
    for path in role_task_files(role):
        tasks = list(flat_tasks(load_yaml(path)))
        positions = [index for index, task in enumerate(tasks) if action_of(task, SET_STATS) is not None]
        if not positions:
            continue
        for task in tasks[:positions[-1]]:
            module = next((key for key in task if key.startswith(COLLECTION + ".")), None)
            changes_aws = module and task.get("check_mode") is not True
            assert not changes_aws or task.get("ignore_errors") is True, \
                "%s: %r can fail before the stats are published (ignore_errors, then fail after set_stats)" % (path.relative_to(REPO), task.get("name"))
            assert "ansible.builtin.fail" not in task, "%s: %r fails before the stats" % (path.relative_to(REPO), task.get("name"))


def test_playbooks_directory_is_read():
    assert (PLAYBOOKS / "backup.yml").is_file()
