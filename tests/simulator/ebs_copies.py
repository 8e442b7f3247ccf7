"""CopySnapshot as AWS runs it, which moto 5.2.5 does not.

- A copy is `pending` and completes after `snapshot_completed_after` (ec2_images sets the delay).
- At most `in_flight_per_region` copies (AWS: 20) may be pending per account and destination
  Region; one more answers `ResourceLimitExceeded`.
- The source may belong to another account when it is shared with the caller through its
  `createVolumePermission` (ModifySnapshotAttribute); otherwise it does not exist for the
  caller (`InvalidSnapshot.NotFound`), as in AWS. moto looks only in the caller's account.
- Encryption: `Encrypted` encrypts the copy of an unencrypted source, an encrypted source
  gives an encrypted copy; `KmsKeyId` needs `Encrypted`; without a key the destination's
  default EBS key (`alias/aws/ebs`) is used. A key the destination account cannot use (not in
  its Region, or another account's key whose key policy does not name the account), or a
  source key the destination account cannot use, ends the copy in `error` with a
  `StateMessage`, asynchronously, as AWS reports KMS permission problems.
- Snapshots of encrypted volumes carry the volume's key (moto leaves `KmsKeyId` empty), and
  keys behind `alias/aws/...` are AWS managed (`KeyManager: AWS`).
- DescribeSnapshots honours `RestorableByUserIds` (snapshots shared with those accounts).
"""

import json
import threading

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidParameterDependency, InvalidSnapshotIdError
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import random_snapshot_id
from moto.kms.models import KmsBackend

from simulator import ec2_images

KEY_NOT_ACCESSIBLE = "Given key ID is not accessible"


class CopyLimits:
    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight_per_region = 20

    def reset(self, in_flight_per_region=20):
        with self.lock:
            self.in_flight_per_region = int(in_flight_per_region)

    def describe(self):
        return {"in_flight_per_region": self.in_flight_per_region}


LIMITS = CopyLimits()


def _find_shared_source(backend, snapshot_id, source_region):
    """The source snapshot as the caller may see it: its own, or shared with its account."""
    from moto.ec2.models import ec2_backends

    for account_id, regions in list(ec2_backends.items()):
        if source_region not in regions:
            continue
        snapshot = regions[source_region].snapshots.get(snapshot_id)
        if snapshot is None:
            continue
        if account_id == backend.account_id or backend.account_id in snapshot.create_volume_permission_userids \
                or "all" in snapshot.create_volume_permission_groups:
            return snapshot
    raise InvalidSnapshotIdError()


def _kms(account_id, region):
    from moto.kms import kms_backends

    return kms_backends[account_id][region]


def _key_for(account_id, region, key_id):
    """(key, None) or (None, why not usable) for a key reference as account_id in region sees it."""
    owner = account_id
    if key_id.startswith("arn:"):
        parts = key_id.split(":")
        if parts[3] != region:
            return None, KEY_NOT_ACCESSIBLE
        owner = parts[4]
    try:
        key = _kms(owner, region).describe_key(key_id)
    except Exception:  # pylint: disable=broad-except
        return None, KEY_NOT_ACCESSIBLE
    if owner != account_id and not _policy_allows(key.policy, account_id):
        return None, KEY_NOT_ACCESSIBLE
    return key, None


def _policy_allows(policy, account_id):
    """Does the key policy allow the account (its root, or anyone) at all?"""
    try:
        statements = json.loads(policy).get("Statement", [])
    except ValueError:
        return False
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        names = principal.get("AWS", []) if isinstance(principal, dict) else principal
        names = names if isinstance(names, list) else [names]
        if any(name == "*" or name == account_id or name.startswith(f"arn:aws:iam::{account_id}:") for name in names):
            return True
    return False


def _source_key_problem(backend, source):
    """Why the caller cannot decrypt the source, or None."""
    if not source.encrypted or not source.kms_key_id or source.owner_id == backend.account_id:
        return None
    region = source.ec2_backend.region_name
    key, problem = _key_for(backend.account_id, region, source.kms_key_id)
    if key is not None and key.key_manager == "AWS":
        return KEY_NOT_ACCESSIBLE
    return problem


def copy_snapshot(self, source_snapshot_id, source_region, description, kms_key_id, encrypted=False):
    if kms_key_id and not encrypted:
        raise InvalidParameterDependency("KmsKeyId", "Encrypted")
    source = _find_shared_source(self, source_snapshot_id, source_region)
    with LIMITS.lock:
        pending = sum(1 for s in list(self.snapshots.values()) if s.__dict__.get("_copy") and s.status == "pending")
        if LIMITS.in_flight_per_region and pending >= LIMITS.in_flight_per_region:
            raise EC2ClientError(
                "ResourceLimitExceeded",
                f"You have exceeded the maximum number of concurrent snapshot copies ({LIMITS.in_flight_per_region}) "
                f"to {self.region_name}.")
        copy_encrypted = bool(source.encrypted or encrypted)
        problem = _source_key_problem(self, source)
        key_arn = None
        if copy_encrypted:
            if kms_key_id:
                key, key_problem = _key_for(self.account_id, self.region_name, kms_key_id)
                problem = problem or key_problem
                key_arn = key.arn if key is not None else kms_key_id
            else:
                key_arn = self.default_kms_key_id or self._create_default_encryption_key()
        snapshot = Snapshot(self, random_snapshot_id(), volume=source.volume, description=description,
                            encrypted=copy_encrypted, kms_key_id=key_arn)
        snapshot.__dict__["_copy"] = True
        snapshot.status = "pending"
        snapshot.__dict__["_settle"] = ec2_images.Settle(
            ec2_images.LIFECYCLE.snapshot_completed_after, "error" if problem else "completed")
        snapshot.state_message = problem
        self.snapshots[snapshot.id] = snapshot
    return snapshot


def copy_snapshot_response(self):
    tags = self._parse_tag_specification().get("snapshot", {})
    self.error_on_dryrun()
    snapshot = self.ec2_backend.copy_snapshot(
        source_snapshot_id=self._get_param("SourceSnapshotId"),
        source_region=self._get_param("SourceRegion"),
        description=self._get_param("Description"),
        kms_key_id=self._get_param("KmsKeyId"),
        encrypted=str(self._get_param("Encrypted", False)).lower() == "true",
    )
    snapshot.add_tags(tags)
    return ActionResult({"SnapshotId": snapshot.id, "Tags": snapshot.tag_set})


def describe_snapshots_response(self):
    result = _moto_describe_snapshots_response(self)
    restorable_by = self._get_param("RestorableByUserIds", [])
    if restorable_by:
        snapshots = [s for s in result.result["Snapshots"] if set(restorable_by) & s.create_volume_permission_userids]
        result = ActionResult({"Snapshots": snapshots})
    return result


def create_snapshot(self, volume_id, description, owner_id=None, from_ami=None):
    snapshot = _previous_create_snapshot(self, volume_id, description, owner_id=owner_id, from_ami=from_ami)
    if snapshot.encrypted and not snapshot.kms_key_id:
        snapshot.kms_key_id = snapshot.volume.kms_key_id
    return snapshot


def create_alias(self, target_key_id, alias_name):
    alias = _moto_create_alias(self, target_key_id, alias_name)
    if alias_name.startswith("alias/aws/"):
        self.keys[self.get_key_id(target_key_id)].key_manager = "AWS"
    return alias


_moto_describe_snapshots_response = ElasticBlockStore.describe_snapshots
_moto_create_alias = KmsBackend.create_alias
_previous_create_snapshot = None


def install():
    """Patch after ec2_images and ebs_limits, whose CreateSnapshot this wraps."""
    global _previous_create_snapshot  # pylint: disable=global-statement
    if getattr(EBSBackend, "_copies_patched", False):
        return
    _previous_create_snapshot = EBSBackend.create_snapshot
    EBSBackend.create_snapshot = create_snapshot
    EBSBackend.copy_snapshot = copy_snapshot
    ElasticBlockStore.copy_snapshot = copy_snapshot_response
    ElasticBlockStore.describe_snapshots = describe_snapshots_response
    KmsBackend.create_alias = create_alias
    Snapshot.state_message = None
    EBSBackend._copies_patched = True
