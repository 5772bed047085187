"""HTTP blueprints, one per audience (see :mod:`tracker.app`)."""
