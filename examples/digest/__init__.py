"""The note product of reference system B: digests, email sequences, Notion sync."""
