"""The store's concepts implemented once over a backend's :class:`Database` object.

Each module implements one concept interface of :mod:`tidings.store` through the
database object's transactions, conversions and named queries; SQLite and PostgreSQL
differ only in their database object (and, for runs, one PostgreSQL subclass).
"""
