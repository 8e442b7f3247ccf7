"""What happens inside a simulated instance that several AWS services see.

- A reboot (after a patch install, or while its root volume is replaced) makes the instance's
  SSM agent ConnectionLost and its load-balancer health checks fail for a while; the EC2 state
  stays `running`, as on AWS.
- A new instance boots: its SSM agent registers only once it has booted (instance_launches).
- A machine image (CreateImage) captures the instance's state as the parts of the simulator
  that keep per-instance state register it (the SSM sandbox's files, the patch inventory);
  replacing the root volume from that image restores each part.
"""

import threading
import time


class Machines:
    def __init__(self):
        self.lock = threading.Lock()
        self.parts = {}
        self.reset()

    def reset(self):
        with self.lock:
            self.reboots = {}
            self.boots = {}
            self.images = {}

    # -- reboots -------------------------------------------------------------------------------

    def reboot(self, instance_id, seconds):
        """The instance is down for `seconds` from now (a later reboot extends the window)."""
        with self.lock:
            self.reboots[instance_id] = max(self.reboots.get(instance_id, 0.0), time.monotonic() + float(seconds))

    def rebooting(self, instance_id):
        with self.lock:
            return time.monotonic() < self.reboots.get(instance_id, 0.0)

    # -- first boot -----------------------------------------------------------------------------

    def boot(self, instance_id, seconds):
        """The instance's operating system and SSM agent come up `seconds` from now."""
        with self.lock:
            self.boots[instance_id] = time.monotonic() + float(seconds)

    def booting(self, instance_id):
        with self.lock:
            return time.monotonic() < self.boots.get(instance_id, 0.0)

    # -- machine images --------------------------------------------------------------------------

    def register_part(self, name, capture, restore):
        """`capture(instance_id)` returns the part's state of the instance; `restore(instance_id, state)` puts it back."""
        with self.lock:
            self.parts[name] = (capture, restore)

    def record_image(self, image_id, instance_id):
        """Called when CreateImage makes `image_id` of `instance_id`: what a root volume from it restores."""
        with self.lock:
            parts = dict(self.parts)
        captured = {name: capture(instance_id) for name, (capture, _restore) in parts.items()}
        with self.lock:
            self.images[image_id] = (instance_id, captured)

    def image_source(self, image_id):
        """The instance an image was made of, or None for an image the simulator did not see made."""
        with self.lock:
            entry = self.images.get(image_id)
        return entry[0] if entry else None

    def restore_image(self, instance_id, image_id):
        """Put the instance's parts back as they were when `image_id` was made; False if it is unknown."""
        with self.lock:
            entry = self.images.get(image_id)
            parts = dict(self.parts)
        if entry is None:
            return False
        for name, state in entry[1].items():
            parts[name][1](instance_id, state)
        return True


MACHINES = Machines()
