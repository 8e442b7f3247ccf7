"""The AWX job templates and workflows under awx/ against the playbooks and roles they run.

Each job's variables are made as AWX makes them (the template's extra variables, the survey defaults that
pass their question's checks, then the answers) and checked with Ansible's own argument spec validator
against what the playbook runs: its validate_argument_spec tasks and the argument_specs of the roles it
includes, for every choice of a multiple-choice question that picks the role (deploy_strategy). Every
survey variable must be one of those, of an agreeing type, and the required ones must be set.

A new playbook under playbooks/ needs a job template here (awx/job_templates/<name>.json) to pass.
"""

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from awx_surveys import TEMPLATE_FILES
from awx_surveys import TEMPLATES
from awx_surveys import TEMPLATES_BY_NAME
from awx_surveys import WORKFLOW_FILES
from awx_surveys import choices_of
from awx_surveys import job_variables
from awx_surveys import load
from awx_surveys import question_errors
from procedure_specs import REPO
from procedure_specs import playbook_options
from procedure_specs import playbook_paths
from procedure_specs import role_options
from procedure_specs import scenarios

# The argument spec types a survey question of each type can answer (a multiple choice of "true"/"false" is a bool).
SURVEY_TYPES = {
    "text": {"str", "raw", "path"},
    "textarea": {"str", "raw", "path"},
    "password": {"str", "raw"},
    "integer": {"int", "raw"},
    "float": {"float", "raw"},
    "multiplechoice": {"str", "raw", "bool"},
    "multiselect": {"list"},
}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sample_answer(question):
    """An answer AWX accepts for a required question whose default it would not."""
    if question["type"] in ("integer", "float"):
        return question.get("min", 0)
    if question["type"] == "multiplechoice":
        return choices_of(question)[0]
    if question["type"] == "multiselect":
        return choices_of(question)[:1]
    return "x" * max(int(question.get("min") or 0), 1)


def needed_answers(template, answers):
    """The answers given, plus a sample for each required question that neither they nor a valid default answer."""
    filled = dict(answers)
    for question in template["survey_spec"]["spec"] if template.get("survey_enabled") else []:
        default_ok = question.get("default") is not None and not question_errors(question, {question["variable"]: question["default"]})
        if question["required"] and question["variable"] not in filled and not default_ok:
            filled[question["variable"]] = sample_answer(question)
    return filled


def deciding_choices(template):
    return {q["variable"]: choices_of(q) for q in template.get("survey_spec", {}).get("spec", []) if q["type"] == "multiplechoice"}


def runs(template, answers=None):
    """[(job variables, {role: entry point})] for every choice of the questions that pick a role."""
    answers = needed_answers(template, answers or {})
    variables, refusals = job_variables(template, answers)
    assert not refusals, "%s: AWX refuses the launch: %s" % (template["name"], refusals)
    playbook = REPO / template["playbook"]
    choices = {var: values for var, values in deciding_choices(template).items() if var not in answers}
    return list(scenarios(playbook, variables, choices))


def options_of(template):
    """Every variable the template's playbook declares, over all its runs: {name: option}."""
    options = dict(playbook_options(REPO / template["playbook"]))
    for _job_vars, roles in runs(template):
        for role, entry_point in roles.items():
            assert "{{" not in role, "%s: the role %s is not decided by the extra variables or a multiple choice" % (template["name"], role)
            options.update(role_options(role, entry_point))
    return options


def spec_errors(options, variables):
    """Ansible's argument spec validation of the variables (only those the options name), as a role's is run."""
    provided = {name: variables[name] for name in options if name in variables}
    result = ArgumentSpecValidator(options).validate(provided)
    return result.error_messages


def value_errors(name, option, value):
    single = {key: item for key, item in option.items() if key not in ("required", "default")}
    return spec_errors({name: single}, {name: value})


def test_templates_and_workflows_are_found():
    assert len(TEMPLATE_FILES) >= 5 and WORKFLOW_FILES


@pytest.mark.parametrize("playbook", playbook_paths(), ids=lambda path: path.name)
def test_every_playbook_has_a_job_template(playbook):
    used = {template["playbook"] for template in TEMPLATES.values()}
    assert str(playbook.relative_to(REPO)) in used, "add awx/job_templates/%s.json for playbooks/%s" % (playbook.stem, playbook.name)


def test_template_names_are_unique():
    assert len(TEMPLATES_BY_NAME) == len(TEMPLATES)


@pytest.mark.parametrize("stem", sorted(TEMPLATES))
def test_template_is_an_awx_job_template_with_a_survey(stem):
    template = TEMPLATES[stem]
    assert template["job_type"] in ("run", "check")
    assert template["name"] and template["description"]
    assert (REPO / template["playbook"]).is_file(), template["playbook"]
    assert isinstance(template.get("extra_vars", {}), dict)
    assert template["survey_enabled"] is True
    survey = template["survey_spec"]
    assert survey["name"] and survey["description"] and survey["spec"]
    variables = [question["variable"] for question in survey["spec"]]
    assert len(set(variables)) == len(variables), "a variable asked twice"
    assert not set(variables) & set(template.get("extra_vars", {})), "survey answers would hide the template's extra variables"
    for question in survey["spec"]:
        assert {"type", "question_name", "variable", "required", "default"} <= set(question), question
        assert question["type"] in SURVEY_TYPES and IDENTIFIER.match(question["variable"]) and question["question_name"]
        assert isinstance(question["required"], bool)
        if question["type"].startswith("multi"):
            choices = choices_of(question)
            assert choices and len(set(choices)) == len(choices) and all(isinstance(c, str) for c in choices)
        if question["type"] in ("text", "textarea", "password", "integer", "float") and "min" in question:
            assert question["min"] <= question["max"]
        if question["default"] not in ("", None) or not question["required"]:
            # A default shown in AWX must pass the question's own checks (an empty one only on a required question).
            assert not question_errors(question, {question["variable"]: question["default"]}), question


@pytest.mark.parametrize("stem", sorted(TEMPLATES))
def test_survey_and_extra_variables_are_the_playbooks_with_agreeing_types(stem):
    template = TEMPLATES[stem]
    options = options_of(template)
    unknown = sorted((set(template.get("extra_vars", {})) | {q["variable"] for q in template["survey_spec"]["spec"]}) - set(options))
    assert not unknown, "%s: not a variable of %s or its roles: %s" % (stem, template["playbook"], unknown)
    for name, value in (template.get("extra_vars") or {}).items():
        assert not value_errors(name, options[name], value), (name, value_errors(name, options[name], value))
    for question in template["survey_spec"]["spec"]:
        name, option = question["variable"], options[question["variable"]]
        kind = option.get("type", "str")
        assert kind in SURVEY_TYPES[question["type"]], "%s: a %s question for a %s variable" % (name, question["type"], kind)
        if option.get("choices"):
            assert question["type"].startswith("multi"), "%s has choices: ask it as a multiple choice" % name
        values = choices_of(question) if question["type"] == "multiplechoice" else [question["default"]]
        values += [question[bound] for bound in ("min", "max") if question["type"] in ("integer", "float") and bound in question]
        for value in values:
            if value == "" and question["required"]:
                continue  # no default: the operator answers
            assert not value_errors(name, option, value), (name, value, value_errors(name, option, value))


@pytest.mark.parametrize("stem", sorted(TEMPLATES))
def test_a_launch_with_the_defaults_gives_every_role_what_it_requires(stem):
    template = TEMPLATES[stem]
    playbook_spec = playbook_options(REPO / template["playbook"])
    for job_vars, roles in runs(template):
        assert not spec_errors(playbook_spec, job_vars), (template["playbook"], spec_errors(playbook_spec, job_vars))
        for role, entry_point in roles.items():
            errors = spec_errors(role_options(role, entry_point), job_vars)
            assert not errors, "%s with %s: %s refuses: %s" % (stem, {k: job_vars[k] for k in deciding_choices(template)}, role, errors)


def test_required_role_variables_must_be_asked_or_set():
    # The check above fails a template that leaves out a variable a role requires.
    template = dict(TEMPLATES["deploy"], extra_vars={k: v for k, v in TEMPLATES["deploy"]["extra_vars"].items() if k != "deploy_commands"})
    failures = [spec_errors(role_options(role), job_vars) for job_vars, roles in runs(template) for role in roles if role.endswith("rolling_deploy")]
    assert failures == [["missing required arguments: deploy_commands"]]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_workflow_nodes_run_known_templates_with_answers_their_surveys_and_roles_accept(path):
    workflow = load(path)
    assert workflow["name"] and workflow["description"]
    nodes = {node["identifier"]: node for node in workflow["workflow_nodes"]}
    assert len(nodes) == len(workflow["workflow_nodes"]), "identifiers repeat"
    for node in nodes.values():
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for target in node.get("related", {}).get(kind, []):
                assert target["identifier"] in nodes, (node["identifier"], target)
        if node["unified_job_template"]["type"] == "workflow_approval":
            assert node["unified_job_template"]["name"] and not node.get("extra_data")
            continue
        assert node["unified_job_template"]["type"] == "job_template"
        template = TEMPLATES_BY_NAME[node["unified_job_template"]["name"]]
        answers = node.get("extra_data") or {}
        asked = {q["variable"] for q in template["survey_spec"]["spec"]}
        # AWX takes only survey answers from a node unless the template prompts for variables.
        assert template["ask_variables_on_launch"] or set(answers) <= asked, sorted(set(answers) - asked)
        variables, refusals = job_variables(template, answers)
        assert not refusals, (node["identifier"], refusals)
        for job_vars, roles in runs(template, answers):
            for role, entry_point in roles.items():
                assert not spec_errors(role_options(role, entry_point), job_vars), (node["identifier"], role)
        assert variables
    # Every node is reached from a root, and nothing loops.
    targets = {t["identifier"] for n in nodes.values() for kind in ("success_nodes", "failure_nodes", "always_nodes")
               for t in n.get("related", {}).get(kind, [])}
    roots = set(nodes) - targets
    assert roots
    seen, frontier = set(), list(roots)
    while frontier:
        current = frontier.pop()
        assert current not in seen, "the workflow loops at %s" % current
        seen.add(current)
        frontier.extend(t["identifier"] for kind in ("success_nodes", "failure_nodes", "always_nodes")
                        for t in nodes[current].get("related", {}).get(kind, []))
    assert seen == set(nodes)


def awx_module_options(module):
    """The options of an awx.awx module (from the ansible package), and the suboptions of each."""
    path = Path(importlib.import_module("ansible_collections.awx.awx").__path__[0]) / "plugins" / "modules" / (module + ".py")
    tree = ast.parse(path.read_text())
    documentation = next(node.value.value for node in tree.body
                         if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DOCUMENTATION")
    return yaml.safe_load(documentation)["options"]


@pytest.mark.parametrize("stem", sorted(TEMPLATES))
def test_template_fields_are_options_of_awx_job_template(stem):
    # The files load with awx.awx.job_template as they are (docs/awx.md), adding the site's organization, project,
    # inventory and credentials.
    assert set(TEMPLATES[stem]) <= set(awx_module_options("job_template")), sorted(set(TEMPLATES[stem]) - set(awx_module_options("job_template")))


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_workflow_fields_are_options_of_awx_workflow_job_template(path):
    workflow = load(path)
    options = awx_module_options("workflow_job_template")
    assert set(workflow) <= set(options)
    node_options = options["workflow_nodes"]["suboptions"]
    for node in workflow["workflow_nodes"]:
        assert set(node) <= set(node_options), sorted(set(node) - set(node_options))
        assert set(node["unified_job_template"]) <= set(node_options["unified_job_template"]["suboptions"])
        assert set(node.get("related", {})) <= set(node_options["related"]["suboptions"])
