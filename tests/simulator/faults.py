"""Fault rules: answer chosen calls with a real AWS error instead of moto's result."""

import itertools
import random
import threading


class FaultRule:
    def __init__(self, rule_id, action, code, message=None, status=None, count=None,
                 probability=1.0, match=None, after=False):
        if not action or not code:
            raise ValueError("a fault rule needs an action (or '*') and an AWS error code")
        if not 0 <= float(probability) <= 1:
            raise ValueError("probability must be between 0 and 1")
        self.id = rule_id
        self.action = action
        self.code = code
        self.message = message or f"Injected fault: {code}"
        self.status = status
        self.remaining = count
        self.probability = float(probability)
        self.match = match
        self.after = bool(after)
        self.fired = 0

    def applies_to(self, call):
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.action not in ("*", call.action):
            return False
        if self.match is not None and self.match not in call.values:
            return False
        return random.random() < self.probability

    def as_dict(self):
        return {
            "id": self.id, "action": self.action, "code": self.code, "message": self.message,
            "status": self.status, "remaining": self.remaining, "probability": self.probability,
            "match": self.match, "after": self.after, "fired": self.fired,
        }


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.ids = itertools.count(1)

    def add(self, **rule):
        created = FaultRule(next(self.ids), **rule)
        with self.lock:
            self.rules.append(created)
        return created.id

    def clear(self):
        with self.lock:
            self.rules = []

    def take(self, call):
        """The first rule that fires for this call, counted as fired, or None."""
        with self.lock:
            for rule in self.rules:
                if rule.applies_to(call):
                    rule.fired += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def describe(self):
        with self.lock:
            return [rule.as_dict() for rule in self.rules]
