"""Durable execution: context, executor (replay), worker."""
