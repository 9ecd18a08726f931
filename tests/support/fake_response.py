"""A stand-in for a requests Response where only its status, headers and close() matter (retry policy tests)."""


class FakeResponse:
    def __init__(self, status, headers=None):
        self.status_code = status
        self.headers = headers or {}
        self.closed = False

    def close(self):
        self.closed = True
