"""The record of every AWS call the simulator answered, for tests and benchmarks to count."""

import itertools
import threading
import time


class CallLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        self.calls = []

    def record(self, call, status, error_code, duration_ms, cpu_ms):
        with self.lock:
            self.calls.append({
                "seq": next(self.seq),
                "time": time.time(),
                "service": call.service,
                "action": call.action,
                "region": call.region,
                "status": status,
                "error_code": error_code,
                "duration_ms": round(duration_ms, 3),
                "cpu_ms": round(cpu_ms, 3),
                "resource_ids": call.resource_ids,
            })

    def since(self, seq=None, action=None):
        with self.lock:
            calls = list(self.calls)
        return [
            c for c in calls
            if (seq is None or c["seq"] > seq) and (action is None or c["action"] == action)
        ]

    def clear(self):
        # Sequence numbers keep counting, so a reader's `since` stays meaningful.
        with self.lock:
            self.calls = []
