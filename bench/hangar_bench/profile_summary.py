"""Where the time goes in a py-spy profile of collapsed stacks: `python -m hangar_bench.profile_summary FILE [N]`.

Prints the share of samples spent in each function (inclusive) and at the top of the stack
(self). Samples of threads waiting for work or for a future (idle pool threads, the main thread
waiting for its pools) are left out unless --idle is given; waits on the network (socket reads and
sends) and on locks stay in, so they show as such next to hashing and zip writes.
"""

import collections
import re
import sys

# Top frames of a thread that has nothing to do: a pool thread waiting for work (its own loop,
# blocked in the queue), a thread waiting for a future or for another thread to end.
_IDLE_TOPS = ("_worker (", "Condition.wait (", "Event.wait (", "Thread._wait_for_tstate_lock (")


def _frame_name(frame):
    return re.sub(r" \((?:[^()]*/)?([^/()]+)\)$", r" (\1)", frame.strip())


def summarize(path, top=25, idle=False):
    inclusive, own, total = collections.Counter(), collections.Counter(), 0
    with open(path) as stream:
        for line in stream:
            stack, _unused, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            count = int(count)
            frames = [_frame_name(frame) for frame in stack.split(";") if frame]
            if not idle and frames and frames[-1].startswith(_IDLE_TOPS):
                continue
            total += count
            for frame in set(frames):
                inclusive[frame] += count
            if frames:
                own[frames[-1]] += count
    lines = ["%d %ssamples in %s" % (total, "" if idle else "busy ", path), "", "inclusive:"]
    lines += ["  %5.1f%%  %s" % (100.0 * n / total, frame) for frame, n in inclusive.most_common(top)]
    lines += ["", "self (top of stack):"]
    lines += ["  %5.1f%%  %s" % (100.0 * n / total, frame) for frame, n in own.most_common(top)]
    return "\n".join(lines)


def main(argv):
    idle = "--idle" in argv
    args = [arg for arg in argv if arg != "--idle"]
    if not args:
        sys.exit("usage: python -m hangar_bench.profile_summary FILE [TOP] [--idle]")
    print(summarize(args[0], int(args[1]) if len(args) > 1 else 25, idle))


if __name__ == "__main__":
    main(sys.argv[1:])
