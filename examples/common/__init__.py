"""Helpers the example apps share (not part of tidings)."""
