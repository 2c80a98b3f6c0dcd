"""The embedded knowledge base: LanceDB in ``ASKLOOP_HOME``."""
