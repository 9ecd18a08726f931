"""The machine and tool versions a result was measured with."""

import os
import platform
import subprocess


def _first_line(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              check=False).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe():
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_bytes": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "skopeo": _first_line(["skopeo", "--version"]),
        "docker_registry": _first_line(["docker-registry", "--version"]),
        "ansible_core": _ansible_version(),
    }


def _ansible_version():
    try:
        from ansible.release import __version__
    except ImportError:
        return "unknown"
    return __version__


def one_line(machine):
    return "%d cores (%s), %.1f GiB RAM, Linux %s, Python %s, ansible-core %s, %s, %s" % (
        machine["cores"], machine["cpu"], machine["memory_bytes"] / 2 ** 30, machine["kernel"], machine["python"],
        machine["ansible_core"], machine["skopeo"], machine["docker_registry"])
