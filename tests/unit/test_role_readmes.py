"""Every role has a README.md that names each variable of its argument_specs, in a table in step with them.

Galaxy refuses a collection with a role without a README ("No role readme found"), and a README
that misses a variable leaves users guessing. The table is written by scripts/role_variables.py.
"""

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(path for path in (REPO / "roles").iterdir() if path.is_dir())


def _load_script():
    spec = importlib.util.spec_from_file_location("role_variables", REPO / "scripts" / "role_variables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


role_variables = _load_script()


def _variables(role_dir):
    """[(entry point, variable)] of the role's meta/argument_specs.yml."""
    entry_points = role_variables.load_specs(role_dir).get("argument_specs") or {}
    return [(entry_point, name) for entry_point, spec in sorted(entry_points.items()) for name in (spec.get("options") or {})]


def test_roles_are_found():
    assert ROLES, "no role directory under roles/"


@pytest.mark.parametrize("role_dir", ROLES, ids=lambda path: path.name)
def test_role_has_readme(role_dir):
    assert (role_dir / "README.md").is_file(), "roles/%s has no README.md" % role_dir.name


@pytest.mark.parametrize("role_dir", ROLES, ids=lambda path: path.name)
def test_readme_names_every_variable(role_dir):
    readme = role_dir / "README.md"
    if not readme.is_file():
        pytest.fail("roles/%s has no README.md" % role_dir.name)
    text = readme.read_text(encoding="utf-8")
    missing = ["%s (entry point %s)" % (name, entry_point) for entry_point, name in _variables(role_dir)
               if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(name), text)]
    assert not missing, "roles/%s/README.md does not name: %s" % (role_dir.name, ", ".join(missing))


@pytest.mark.parametrize("role_dir", ROLES, ids=lambda path: path.name)
def test_variables_table_is_in_step_with_argument_specs(role_dir):
    if not (role_dir / "README.md").is_file():
        pytest.fail("roles/%s has no README.md" % role_dir.name)
    current, wanted = role_variables.updated_readme(role_dir)
    assert current == wanted, "roles/%s/README.md: variables table out of date; run: python scripts/role_variables.py" % role_dir.name


def test_every_role_has_argument_specs():
    """A role without argument_specs would pass the checks above with nothing to check."""
    without = [role_dir.name for role_dir in ROLES if not role_variables.load_specs(role_dir).get("argument_specs")]
    assert not without, "roles without an entry point in meta/argument_specs.yml: %s" % ", ".join(without)
