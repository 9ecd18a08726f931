"""What a timed run does, independent of the tool doing it; and what one timed run measured."""

from dataclasses import dataclass, field

TAG = "1.0"  # every benchmark image has this one tag


@dataclass
class MirrorTask:
    source_host: str
    repositories: list
    dest_host: str

    def source_references(self):
        return ["%s/%s:%s" % (self.source_host, repository, TAG) for repository in self.repositories]


@dataclass
class SaveTask:
    source_host: str
    repositories: list
    output: str  # our archive's path, or the directory for skopeo's oci-archive files

    def source_references(self):
        return ["%s/%s:%s" % (self.source_host, repository, TAG) for repository in self.repositories]


@dataclass
class LoadTask:
    source: str  # our archive, or skopeo's OCI layout directory
    repositories: list
    dest_host: str


@dataclass
class Sample:
    """One timed run. `seconds` is the figure compared: the engine's own time for the engine run,
    the whole process's wall time otherwise."""
    seconds: float
    process_seconds: float
    max_rss_bytes: int
    cpu_seconds: float
    details: dict = field(default_factory=dict)

    @classmethod
    def of_process(cls, measurement, seconds=None, **details):
        return cls(measurement.seconds if seconds is None else seconds, measurement.seconds,
                   measurement.max_rss_bytes, measurement.user_seconds + measurement.system_seconds, details)

    def as_dict(self):
        return {"seconds": round(self.seconds, 4), "process_seconds": round(self.process_seconds, 4),
                "max_rss_bytes": self.max_rss_bytes, "cpu_seconds": round(self.cpu_seconds, 3),
                "details": self.details}
