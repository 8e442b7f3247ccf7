"""What the playbooks and roles say about their variables and the stats they publish, read from their YAML.

A playbook's variables are those of its `ansible.builtin.validate_argument_spec` tasks (its own, such as
backup_amis) and those of the roles it includes (meta/argument_specs.yml). A role named by a template
(deploy.yml's "{{ cloudops_deploy_roles[deploy_strategy] }}") is resolved with the variables a job gives.
"""

import itertools
import re
from pathlib import Path

import jinja2
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
ROLES = REPO / "roles"
COLLECTION = "cloudops.aws"

INCLUDE_ROLE = {"include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role"}
VALIDATE = {"validate_argument_spec", "ansible.builtin.validate_argument_spec"}
SET_STATS = {"set_stats", "ansible.builtin.set_stats"}
IMPORT_PLAYBOOK = {"import_playbook", "ansible.builtin.import_playbook"}


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


def playbook_paths():
    return sorted(PLAYBOOKS.glob("*.yml"))


def plays(playbook):
    """The plays of a playbook file, with those of the playbooks it imports."""
    found = []
    for entry in load_yaml(playbook) or []:
        imported = next((entry[key] for key in IMPORT_PLAYBOOK if key in entry), None)
        if imported is None:
            found.append(entry)
        elif imported.startswith(COLLECTION + "."):
            found.extend(plays(PLAYBOOKS / (imported[len(COLLECTION) + 1:] + ".yml")))
        else:
            found.extend(plays(Path(playbook).parent / imported))
    return found


def flat_tasks(tasks):
    """Every task of a task list, blocks opened."""
    for task in tasks or []:
        if any(key in task for key in ("block", "rescue", "always")):
            for key in ("block", "rescue", "always"):
                yield from flat_tasks(task.get(key))
        else:
            yield task


def play_tasks(play):
    return list(flat_tasks((play.get("pre_tasks") or []) + (play.get("tasks") or []) + (play.get("post_tasks") or [])))


def action_of(task, names):
    """The task's arguments when it runs one of `names`, else None."""
    for name in names:
        if name in task:
            return task[name] if task[name] is not None else {}
    return None


def role_references(play):
    """(role name as written, entry point) of the roles a play runs or includes."""
    refs = []
    for entry in play.get("roles") or []:
        name = entry if isinstance(entry, str) else entry.get("role") or entry.get("name")
        refs.append((name, "main"))
    for task in play_tasks(play):
        args = action_of(task, INCLUDE_ROLE)
        if args is not None:
            refs.append((args["name"], args.get("tasks_from", "main")))
    return refs


def role_dir(name):
    """roles/<name> of a role of this collection named by FQCN, or None for another collection's role."""
    if name.startswith(COLLECTION + "."):
        return ROLES / name[len(COLLECTION) + 1:]
    return None


def role_options(name, entry_point="main"):
    """The options of a role entry point's argument_specs."""
    specs = load_yaml(role_dir(name) / "meta" / "argument_specs.yml")["argument_specs"]
    return specs[entry_point].get("options") or {}


def playbook_options(playbook):
    """The options of the playbook's validate_argument_spec tasks."""
    options = {}
    for play in plays(playbook):
        for task in play_tasks(play):
            args = action_of(task, VALIDATE)
            if args is not None:
                options.update(args.get("argument_spec") or {})
    return options


def render(text, variables):
    """A role name template rendered with the given variables; None when they do not decide it."""
    if "{{" not in text and "{%" not in text:
        return text
    try:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(variables)
    except (jinja2.UndefinedError, KeyError, TypeError):
        return None


def template_variables(text):
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(re.findall(r"{{(.*?)}}", text))))


def scenarios(playbook, given, choices):
    """[(the variables of a job, {role name: entry point})], one per combination of the multiple choices
    (`choices`: {variable: [values]}) that decide a templated role name."""
    references = [(name, entry, play.get("vars") or {}) for play in plays(playbook) for name, entry in role_references(play)]
    deciding = sorted({var for reference in references for var in template_variables(reference[0])} & set(choices))
    found = []
    for values in itertools.product(*(choices[var] for var in deciding)):
        variables = dict(given, **dict(zip(deciding, values)))
        roles = {}
        for name, entry, play_vars in references:
            resolved = render(name, dict(play_vars, **variables))
            roles[resolved if resolved is not None else name] = entry
        found.append((variables, roles))
    return found


def possible_roles(play):
    """Every role of this collection a play may include: the names written, and for a templated name every role
    FQCN among the play's variables (deploy.yml's cloudops_deploy_roles)."""
    def strings(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    names = set()
    for name, _entry_point in role_references(play):
        if "{{" in name:
            names.update(s for s in strings(play.get("vars") or {}) if role_dir(s) is not None and role_dir(s).is_dir())
        elif role_dir(name) is not None:
            names.add(name)
    return sorted(names)


def role_task_files(role):
    return sorted((role / "tasks").glob("*.yml"))


def stats_tasks(tasks):
    """The set_stats tasks of a task list, with their arguments."""
    return [(task, action_of(task, SET_STATS)) for task in flat_tasks(tasks) if action_of(task, SET_STATS) is not None]
