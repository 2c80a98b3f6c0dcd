"""The answer and feedback log: SQLite by default, PostgreSQL in production."""
