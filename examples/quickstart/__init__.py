"""Quickstart: a welcome email sequence (``make demo`` runs it live)."""
