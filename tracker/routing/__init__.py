"""Last-mile route optimisation (free of Flask and of the database)."""
