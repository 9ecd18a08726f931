"""The per-image deadline stands still while all of the image's blobs wait in the shared queue (issue 11)."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import Deadline, DeadlineExceeded


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_clock_runs_while_the_image_works():
    clock = Clock()
    deadline = Deadline(10, clock=clock)
    clock.now += 4
    assert deadline.elapsed() == 4 and deadline.remaining() == 6
    clock.now += 7
    with pytest.raises(DeadlineExceeded, match="timed out after 10s"):
        deadline.check("copying x")


def test_time_in_the_blob_queue_does_not_count():
    clock = Clock()
    deadline = Deadline(10, clock=clock)
    clock.now += 2
    deadline.queued(2)  # both blobs wait behind other images
    clock.now += 50
    assert deadline.elapsed() == 2
    with deadline.running():  # the first one runs: the clock goes again
        clock.now += 3
        assert deadline.elapsed() == 5
    clock.now += 20  # the second still waits: stopped again
    assert deadline.elapsed() == 5
    with deadline.running():
        clock.now += 1
    assert deadline.elapsed() == 6
    clock.now += 1  # all done: the image's own thread goes on, and so does the clock
    assert deadline.elapsed() == 7
    deadline.check()


def test_a_blob_running_keeps_the_clock_going_while_others_wait():
    clock = Clock()
    deadline = Deadline(10, clock=clock)
    deadline.queued(3)
    with deadline.running():
        clock.now += 4
        with deadline.running():
            clock.now += 4
        clock.now += 4
    assert deadline.elapsed() == 12
    with pytest.raises(DeadlineExceeded):
        deadline.check()
