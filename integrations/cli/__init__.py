"""The ``askloop`` command line (entry point: :func:`askloop.integrations.cli.main.main`)."""
