"""Settings (the only place env and files are read) and deploy artifacts."""

from askloop.config.settings import Settings, SettingsError, load_settings, validate_tenant

__all__ = ["Settings", "SettingsError", "load_settings", "validate_tenant"]
