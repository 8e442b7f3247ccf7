"""The AWX side of a job: the job templates under awx/, and the variables AWX gives a job launched from one.

AWX makes a job's extra variables from the template's extra variables, then the survey defaults that pass
their question's checks, then the answers, and refuses a launch whose answers fail the checks (required,
type, length, range, choices); these functions do the same, for the tests.
"""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AWX = REPO / "awx"
TEMPLATE_FILES = sorted((AWX / "job_templates").glob("*.json"))
WORKFLOW_FILES = sorted((AWX / "workflows").glob("*.json"))


def load(path):
    return json.loads(Path(path).read_text())


TEMPLATES = {path.stem: load(path) for path in TEMPLATE_FILES}
TEMPLATES_BY_NAME = {template["name"]: template for template in TEMPLATES.values()}


def choices_of(question):
    choices = question.get("choices", [])
    return [c for c in choices.splitlines() if c.strip()] if isinstance(choices, str) else list(choices)


def question_errors(question, answers):
    """AWX's checks of one survey question against the answers given (missing, type, length, range, choices)."""
    variable, kind = question["variable"], question["type"]
    if variable not in answers:
        return ["%s: required and not answered" % variable] if question["required"] else []
    value = answers[variable]
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["%s: %r is not a string" % (variable, value)]
        if len(value) < int(question.get("min") or 0) or ("max" in question and len(value) > int(question["max"])):
            return ["%s: %r is not %s to %s characters long" % (variable, value, question.get("min"), question.get("max"))]
    elif kind in ("integer", "float"):
        if isinstance(value, bool) or not isinstance(value, int if kind == "integer" else (int, float)):
            return ["%s: %r is not a number of type %s" % (variable, value, kind)]
        if ("min" in question and value < question["min"]) or ("max" in question and value > question["max"]):
            return ["%s: %r is not within %s..%s" % (variable, value, question.get("min"), question.get("max"))]
    elif kind == "multiplechoice" and value not in choices_of(question):
        return ["%s: %r is not one of %s" % (variable, value, choices_of(question))]
    elif kind == "multiselect" and (not isinstance(value, list) or set(value) - set(choices_of(question))):
        return ["%s: %r is not a list of %s" % (variable, value, choices_of(question))]
    return []


def job_variables(template, answers):
    """(the job's extra variables, AWX's refusals) for a launch with these survey answers."""
    questions = template["survey_spec"]["spec"] if template.get("survey_enabled") else []
    # A default that passes its question's checks stands for the answer (AWX's launch form shows it filled in).
    answered = {question["variable"]: question["default"] for question in questions
                if question.get("default") is not None and not question_errors(question, {question["variable"]: question["default"]})}
    answered.update(answers)
    variables = dict(template.get("extra_vars") or {}, **answered)
    return variables, [error for question in questions for error in question_errors(question, answered)]
