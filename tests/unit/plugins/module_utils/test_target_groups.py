"""ELBv2 target-group I/O on a fake client: registrations found per page, deregister and wait, register and wait."""

from fakes import Clock

from ansible_collections.cloudops.aws.plugins.module_utils import target_groups


class FakeElbv2:
    """Two target groups over two pages; a deregistered target drains for `drain_rounds` describes."""

    def __init__(self, drain_rounds=2):
        self.members = {"tg-web": {"i-1": "healthy", "i-2": "healthy", "i-3": "healthy"}, "tg-api": {"i-1": "healthy"}, "tg-ip": {}}
        self.drain_rounds = drain_rounds
        self.draining = {}
        self.calls = []

    def describe_target_groups(self, aws_retry=False, Marker=None):
        self.calls.append(("DescribeTargetGroups", Marker))
        if Marker is None:
            return {"TargetGroups": [{"TargetGroupArn": "tg-web", "TargetType": "instance"}, {"TargetGroupArn": "tg-ip", "TargetType": "ip"}],
                    "NextMarker": "page-2"}
        return {"TargetGroups": [{"TargetGroupArn": "tg-api", "TargetType": "instance"}]}

    def describe_target_health(self, aws_retry=False, TargetGroupArn=None, Targets=None):
        self.calls.append(("DescribeTargetHealth", TargetGroupArn))
        group = self.members[TargetGroupArn]
        for key in list(self.draining):
            self.draining[key] -= 1
            if self.draining[key] <= 0:
                del self.draining[key]
                self.members[key[1]].pop(key[0], None)
        wanted = {t["Id"] for t in Targets} if Targets else set(group)
        return {"TargetHealthDescriptions": [{"Target": {"Id": i, "Port": 80}, "TargetHealth": {"State": group[i]}}
                                             for i in sorted(group) if i in wanted]}

    def deregister_targets(self, aws_retry=False, TargetGroupArn=None, Targets=None):
        self.calls.append(("DeregisterTargets", TargetGroupArn, sorted(t["Id"] for t in Targets)))
        for target in Targets:
            self.members[TargetGroupArn][target["Id"]] = "draining"
            self.draining[(target["Id"], TargetGroupArn)] = self.drain_rounds

    def register_targets(self, aws_retry=False, TargetGroupArn=None, Targets=None):
        self.calls.append(("RegisterTargets", TargetGroupArn, sorted(t["Id"] for t in Targets)))
        for target in Targets:
            self.members[TargetGroupArn][target["Id"]] = "healthy"


def test_registrations_are_found_across_pages_with_each_groups_healthy_count():
    elbv2 = FakeElbv2()
    registrations, healthy = target_groups.find_registrations(elbv2, ["i-1", "i-2", "i-9"])

    assert registrations == {"i-1": [("tg-web", 80), ("tg-api", 80)], "i-2": [("tg-web", 80)]}
    assert healthy == {"tg-web": 3, "tg-api": 1}
    assert ("DescribeTargetGroups", "page-2") in elbv2.calls
    # The ip-type group is not an instance group: never described.
    assert ("DescribeTargetHealth", "tg-ip") not in elbv2.calls


def test_deregistered_targets_are_waited_for_until_draining_ends_then_registered_again():
    elbv2, clock = FakeElbv2(drain_rounds=3), Clock()
    registrations, _healthy = target_groups.find_registrations(elbv2, ["i-1"])

    target_groups.deregister(elbv2, registrations)
    states = target_groups.wait_for_states(elbv2, registrations, target_groups.drained, 60, sleep=clock.sleep, clock=clock)

    assert set(states.values()) == {None}
    assert "i-1" not in elbv2.members["tg-web"] and "i-1" not in elbv2.members["tg-api"]
    target_groups.register(elbv2, registrations)
    states = target_groups.wait_for_states(elbv2, registrations, target_groups.healthy, 60, sleep=clock.sleep, clock=clock)
    assert states == {("i-1", "tg-api"): "healthy", ("i-1", "tg-web"): "healthy"}


def test_waiting_stops_at_the_timeout_with_the_last_states():
    elbv2, clock = FakeElbv2(drain_rounds=1000), Clock()
    registrations, _healthy = target_groups.find_registrations(elbv2, ["i-2"])
    target_groups.deregister(elbv2, registrations)

    states = target_groups.wait_for_states(elbv2, registrations, target_groups.drained, 30, sleep=clock.sleep, clock=clock)

    assert states == {("i-2", "tg-web"): "draining"} and clock.now == 30
