"""Plain SQL for asyncpg, one module per table group; rows leave as frozen dataclasses."""
