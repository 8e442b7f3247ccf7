"""docs/iam/: each procedure's policy, proven on the simulator with IAM checks on (docs/iam/README.md).

One campaign runs every procedure at once, each scenario in its own Region with its own IAM user: the
procedure with just its policy (it does its work, and calls exactly the document's actions), without one
representative action (it fails, or warns where the module is designed to, naming the action), and with a
wrong delete condition (the unmanaged look-alikes stay). `make soak` removes every action in turn
(tests/reliability/iam_campaign.py, 4 to 5 minutes); this file keeps to 60-90 s on a busy 2-core machine.
"""

import json

import pytest
from moto.iam.policy_validation import IAMPolicyDocumentValidator

import iam_procedures
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_VALUE
from iam_procedures import NOT_CALLED
from iam_procedures import POLICIES
from iam_procedures import PROCEDURES
from iam_procedures import WARNS_WITHOUT
from iam_procedures import WRONG_CONDITIONS
from simulator.client import running_simulator

pytestmark = pytest.mark.xdist_group("iam_policies")

# One destructive action per procedure (two for run_command: the lost-answer lookup and the best-effort read).
REPRESENTATIVE = {
    "backup": ["ec2:DeregisterImage"],
    "dr_copy": ["ec2:DeleteSnapshot"],
    "orphan_cleanup": ["ec2:DeleteSnapshot"],
    "run_command": ["ssm:ListCommands", "s3:GetObject"],
    "patch": ["ec2:StopInstances"],
    "patch_rollback": ["ec2:CreateReplaceRootVolumeTask"],
    "deploy_rolling": ["elasticloadbalancing:DeregisterTargets"],
    "deploy_blue_green": ["elasticloadbalancing:ModifyListener"],
    "deploy_ami_rollout": ["autoscaling:StartInstanceRefresh"],
    "schedule": ["ec2:StopInstances"],
    "restore_drill": ["ec2:TerminateInstances"],
}
# Actions that change or remove what exists: each is allowed only on managed resources or on the selection
# (a tag condition), or, where AWS has no such condition, on the resources named in the statement.
DESTRUCTIVE = {
    "ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:TerminateInstances", "ec2:DeleteVolume", "ec2:StopInstances", "ec2:StartInstances",
    "ec2:CreateReplaceRootVolumeTask", "ec2:ModifySnapshotAttribute", "ec2:CreateTags", "ec2:DeleteTags",
    "ec2:CreateLaunchTemplateVersion", "ssm:SendCommand", "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:ModifyListener", "autoscaling:StartInstanceRefresh",
    "autoscaling:CancelInstanceRefresh", "autoscaling:RollbackInstanceRefresh",
}
MANAGED_ONLY = {"ec2:DeregisterImage", "ec2:DeleteSnapshot"}
# Where a destructive action is allowed without a tag condition, and why (docs/iam/README.md says so too).
UNCONDITIONED = {
    ("patch", "elasticloadbalancing:DeregisterTargets"): "the patched instances' target groups carry no tag of the patch selection",
    ("patch", "elasticloadbalancing:RegisterTargets"): "idem",
    ("patch", "ec2:CreateReplaceRootVolumeTask"): "its task and volume resources cannot be tagged beforehand (the instance and image statements are)",
}
TAG_KEYS = ("aws:ResourceTag/", "ssm:resourceTag/", "aws:RequestTag/", "ec2:CreateAction", "aws:TagKeys")
DOCUMENTS = sorted(path.stem for path in POLICIES.glob("*.json"))


def statements(document):
    for statement in iam_procedures.load_policy(document)["Statement"]:
        actions = statement["Action"]
        yield statement, [actions] if isinstance(actions, str) else actions


def procedure_of(document):
    return next(name for name, procedure in PROCEDURES.items() if document in (procedure.policy_name, procedure.role_policy_name))


def test_every_procedure_has_its_documents_and_every_document_a_procedure():
    named = {doc for procedure in PROCEDURES.values() for doc in (procedure.policy_name, procedure.role_policy_name) if doc}
    assert set(DOCUMENTS) == named


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documents_are_valid_identity_policies_that_only_allow_named_actions(document):
    text = (POLICIES / (document + ".json")).read_text()
    IAMPolicyDocumentValidator(text).validate()  # moto's copy of IAM's grammar checks
    policy = json.loads(text)
    assert policy["Version"] == "2012-10-17"
    for statement, actions in statements(document):
        assert statement["Effect"] == "Allow" and statement.get("Sid") and statement["Resource"]
        assert all("*" not in action for action in actions), statement


@pytest.mark.parametrize("document", DOCUMENTS)
def test_destructive_actions_are_limited_to_managed_or_selected_resources(document):
    name = procedure_of(document)
    for statement, actions in statements(document):
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        for action in set(actions) & DESTRUCTIVE:
            keys = [key for operator in statement.get("Condition", {}).values() for key in operator]
            if action in MANAGED_ONLY:
                assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/" + MANAGED_BY_KEY: MANAGED_BY_VALUE}}, statement
            elif (name, action) in UNCONDITIONED:
                assert resources != ["*"] or keys, statement
            else:
                assert any(key.startswith(TAG_KEYS) for key in keys) or all(":document/" in resource for resource in resources), (action, statement)


def test_the_readme_explains_every_document_action_and_exception():
    readme = (POLICIES / "README.md").read_text()
    for document in DOCUMENTS:
        assert "(%s.json)" % document in readme
        for _statement, actions in statements(document):
            assert all("`%s`" % action in readme for action in actions)
    for name, actions in NOT_CALLED.items():
        assert all(action in readme for action in actions), name
    for (_name, action), _reason in list(WARNS_WITHOUT.items()) + list(UNCONDITIONED.items()):
        assert action in readme
    assert "INITIAL_NO_AUTH_ACTION_COUNT" in readme and "Condition" in readme


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """{procedure: {scenario host: (outcome, problems)}} of one run of the representative campaign."""
    plan = iam_procedures.plan_for(list(PROCEDURES), lambda procedure: REPRESENTATIVE[procedure.name])
    with running_simulator() as sim:
        outcomes = iam_procedures.run(sim, plan, tmp_path_factory.mktemp("iam"))
        yield {procedure.name: {scenario.host: (outcomes[scenario.host], iam_procedures.problems_of(sim, procedure, outcomes[scenario.host]))
                                for scenario in scenarios}
               for procedure, scenarios in plan}


@pytest.mark.parametrize("name", list(PROCEDURES))
def test_a_user_with_just_the_policy_runs_the_procedure_and_calls_exactly_its_actions(campaign, name):
    outcome, problems = campaign[name]["%s-full" % name]

    assert problems == []
    called = outcome.actions() - iam_procedures.NEEDS_NO_PERMISSION
    procedure = PROCEDURES[name]
    if procedure.covers_document:
        assert called == set(iam_procedures.document_actions(procedure)) - set(NOT_CALLED[name])
    else:
        assert set(procedure.removals) <= called <= set(iam_procedures.document_actions(procedure))


@pytest.mark.parametrize("name, action", [(name, action) for name, actions in REPRESENTATIVE.items() for action in actions])
def test_without_one_action_the_procedure_stops_naming_it(campaign, name, action):
    outcome, problems = campaign[name]["%s-without-%s" % (name, action.replace(":", "-"))]

    assert problems == []
    assert [iam_procedures.iam_action(call) for call in iam_procedures.denied(outcome)][:1] == [action]
    if (name, action) not in WARNS_WITHOUT:
        assert "is not authorized to perform: %s" % action in outcome.failure


@pytest.mark.parametrize("name", sorted(WRONG_CONDITIONS))
def test_a_wrong_delete_condition_does_not_let_the_procedure_delete_unmanaged_snapshots_or_images(campaign, name):
    """The simulator does not evaluate conditions (docs/simulator.md): the look-alikes stay because the collection
    itself deletes only what carries cloudops:managed-by (docs/tags.md), which check_unmanaged_kept reads back."""
    outcome, problems = campaign[name]["%s-wrong-condition" % name]

    assert problems == []
    assert outcome.scenario.facts["unmanaged_snapshots"]
    deleted = {i for call in outcome.calls for i in call["resource_ids"] if call["action"] == "DeleteSnapshot"}
    assert not set(outcome.scenario.facts["unmanaged_snapshots"]) & deleted
