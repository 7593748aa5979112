"""Loopback servers speaking the wire formats of the services tidings delivers through.

Each fake validates what the real service validates (auth, content type, field names,
batch sizes), answers in the documented shapes, records every request so tests can
assert on the wire, and can be scripted to fail: a status, a delay, a dropped answer.
"""
