"""The registries of a benchmark run: one source for the whole run, a fresh destination per timed run.

Both are tests.support's RegistryServer (Debian's docker-registry on 127.0.0.1, plain HTTP), stopped
by PID. A fresh destination (new process, empty storage) is how the destination is wiped.
"""

from tests.support.registry import RegistryServer


class Registries:
    def __init__(self):
        self.source = None
        self.destination = None

    def start(self):
        self.source = RegistryServer().start()
        return self

    def fresh_destination(self):
        """Stop the current destination (and delete its storage), start an empty one."""
        self.stop_destination()
        self.destination = RegistryServer().start()
        return self.destination

    def pids(self):
        return [server.process.pid for server in (self.source, self.destination)
                if server is not None and server.process is not None]

    def stop_destination(self):
        if self.destination is not None:
            self.destination.stop()
            self.destination = None

    def stop(self):
        self.stop_destination()
        if self.source is not None:
            self.source.stop()
            self.source = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
