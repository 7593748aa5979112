"""MediLink, the healthcare marketplace of reference system A, on tidings."""
