"""Offline-friendly replacement for pip's get-pip.py bootstrap script.

ansible-test bootstraps pip into each virtual environment it creates by running
https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py, or a cached
copy at ~/.ansible/test/cache/get_pip_<version>.py when one exists.  That host is not
reachable from every CI machine, so scripts/sanity.sh installs this file as the
cached copy.

ansible-test runs it as ``__main__`` (through its quiet_pip.py wrapper) with the same
arguments get-pip.py takes, for example::

    --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel

This script honours them the way get-pip.py does: pip is first bootstrapped from the
wheel bundled with the standard library (ensurepip, no network), then
``pip install --upgrade --force-reinstall <arguments>`` installs the requested pip.

ansible-test hands pip a filtered environment, so a CA bundle configured through
PIP_CERT in the caller's shell never reaches this script.  The pip that ensurepip
bundles only trusts certifi's CA list, so the system CA bundle is passed on
explicitly; the pip version installed here uses the system trust store by itself.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

MARKER = "cloudops.aws get-pip stand-in"  # scripts/sanity.sh only replaces files carrying this

SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, FreeBSD
)


def split_arguments(argv: list[str]) -> tuple[list[str], bool, bool]:
    """Return the pip install arguments and whether setuptools / wheel are wanted."""
    setuptools = "PIP_NO_SETUPTOOLS" not in os.environ
    wheel = "PIP_NO_WHEEL" not in os.environ
    pip_args = []

    for arg in argv:
        if arg == "--no-setuptools":
            setuptools = False
        elif arg == "--no-wheel":
            wheel = False
        else:
            pip_args.append(arg)

    return pip_args, setuptools, wheel


def implicit_packages(pip_args: list[str], setuptools: bool, wheel: bool) -> list[str]:
    """Return the packages get-pip.py would add when the caller did not name them."""
    named = " ".join(pip_args).lower()
    packages = []

    # get-pip.py adds setuptools and wheel only for Python versions that still expect them.
    if sys.version_info < (3, 12):
        if setuptools and "setuptools" not in named:
            packages.append("setuptools")

        if wheel and "wheel" not in named:
            packages.append("wheel")

    return packages


def pip_environment() -> dict[str, str]:
    """Return the environment for the pip runs, with a CA bundle pip can verify PyPI with."""
    env = os.environ.copy()

    if "PIP_CERT" not in env:
        for bundle in SYSTEM_CA_BUNDLES:
            if os.path.isfile(bundle):
                env["PIP_CERT"] = bundle
                break

    return env


def run(command: list[str], env: dict[str, str]) -> None:
    """Run a command, exiting with its status if it fails."""
    status = subprocess.call(command, env=env)

    if status:
        sys.exit(status)


def main() -> None:
    """Bootstrap pip with ensurepip, then install the requested pip version."""
    pip_args, setuptools, wheel = split_arguments(sys.argv[1:])
    env = pip_environment()
    had_setuptools = importlib.util.find_spec("setuptools") is not None

    # ensurepip installs from the wheel bundled with Python and never needs an index;
    # keeping the machine's pip configuration away from it avoids surprises such as
    # required hashes or a constraint file that pins pip.
    ensurepip_env = dict(env, PIP_CONFIG_FILE=os.devnull)
    run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], ensurepip_env)

    packages = implicit_packages(pip_args, setuptools, wheel)
    run([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall"] + pip_args + packages, env)

    # ensurepip before Python 3.12 always adds setuptools; get-pip.py --no-setuptools would not.
    if not setuptools and not had_setuptools and sys.version_info < (3, 12):
        run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"], env)


if __name__ == "__main__":
    main()
