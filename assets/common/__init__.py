"""Shared Dagster pieces: partitions, the storage resource and IO manager, stage streaming, GX checks."""
