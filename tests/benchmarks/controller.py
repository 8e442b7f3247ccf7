"""Running a playbook as an operator would, timing it and sampling the controller's memory.

The controller is ansible-playbook and every process under it (its forked workers and the module
processes they start). Its memory is sampled from /proc every SAMPLE_SECONDS: the sum of the
processes' resident set sizes (shared pages counted in each process, so an upper figure) and of
their proportional set sizes (shared pages split between the processes that share them). The
peaks are what a controller host must have free for the run.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from conftest import ansible_env

SAMPLE_SECONDS = 0.1


def _children():
    """{parent pid: [child pids]} of every process now running."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    return children


def _tree(pid):
    children = _children()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _memory_kib(pid):
    """(RSS, PSS) of one process in KiB, or (0, 0) once it has ended."""
    values = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid, encoding="ascii") as handle:
            for line in handle:
                if line.startswith(("Rss:", "Pss:")):
                    values[line[:3]] = int(line.split()[1])
        return values["Rss"], values["Pss"]
    except (OSError, KeyError, ValueError):
        return 0, 0


class MemorySampler(threading.Thread):
    """Peak summed RSS and PSS of a process tree, sampled until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.stopped = threading.Event()
        self.peak_rss_kib = 0
        self.peak_pss_kib = 0
        self.peak_processes = 0

    def run(self):
        while not self.stopped.is_set():
            pids = _tree(self.pid)
            sizes = [_memory_kib(pid) for pid in pids]
            self.peak_rss_kib = max(self.peak_rss_kib, sum(rss for rss, _pss in sizes))
            self.peak_pss_kib = max(self.peak_pss_kib, sum(pss for _rss, pss in sizes))
            self.peak_processes = max(self.peak_processes, len(pids))
            self.stopped.wait(SAMPLE_SECONDS)

    def stop(self):
        self.stopped.set()
        self.join()


class PlaybookRun:
    """One ansible-playbook run: its wall time, peak memory and the JSON callback's report."""

    def __init__(self, started_at, wall, report, returncode, stderr, sampler):
        self.started_at = started_at
        self.wall = wall
        self.report = report
        self.returncode = returncode
        self.stderr = stderr
        self.peak_rss_mib = sampler.peak_rss_kib / 1024
        self.peak_pss_mib = sampler.peak_pss_kib / 1024
        self.peak_processes = sampler.peak_processes

    def task_results(self):
        """{task name: localhost's result} of the play's tasks."""
        tasks = self.report["plays"][0]["tasks"] if self.report else []
        return {task["task"]["name"]: task["hosts"].get("localhost", {}) for task in tasks}

    @property
    def failed(self):
        return self.returncode != 0


def run_playbook(sim, plays, extra_env=None, timeout=7200, inventory="localhost,"):
    """Run `plays` (a list of plays) against the simulator through ansible-playbook with the JSON callback."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(plays, handle)
    env = dict(ansible_env(sim), **(extra_env or {}))
    started_at, started = time.time(), time.monotonic()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, handle.name],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    sampler = MemorySampler(process.pid)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    finally:
        wall = time.monotonic() - started
        sampler.stop()
        os.unlink(handle.name)
    try:
        report = json.loads(stdout)
    except ValueError:
        report = None
    return PlaybookRun(started_at, wall, report, process.returncode, stderr, sampler)
