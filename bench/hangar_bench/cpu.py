"""CPU seconds from /proc: of one process (the registries), and of the whole machine (to see other load)."""

import os

_TICKS = os.sysconf("SC_CLK_TCK")
# /proc/stat's first line: user nice system idle iowait irq softirq steal ...
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


def process_cpu_seconds(pid):
    """User + system CPU of a running process (its waited-for children included); 0 when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as stream:
            fields = stream.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # fields[0] is the state (field 3 of proc(5)): utime, stime, cutime, cstime are fields 14-17.
    return sum(int(value) for value in fields[11:15]) / _TICKS


def machine_busy_seconds():
    """CPU seconds every core of the machine has spent busy since boot."""
    with open("/proc/stat") as stream:
        values = [int(value) for value in stream.readline().split()[1:]]
    return sum(values[index] for index in _BUSY_FIELDS if index < len(values)) / _TICKS


class CpuWatch:
    """CPU spent by the given processes and by the machine between start() and stop()."""

    def __init__(self, pids):
        self.pids = [pid for pid in pids if pid]
        self._start = None

    def start(self):
        self._start = (machine_busy_seconds(), [process_cpu_seconds(pid) for pid in self.pids])
        return self

    def stop(self):
        """(machine busy seconds, seconds of the watched processes) since start()."""
        machine, processes = self._start
        return (machine_busy_seconds() - machine,
                sum(process_cpu_seconds(pid) - before for pid, before in zip(self.pids, processes)))
