"""Configuration: settings (pydantic-settings, env + TOML) and instrument reference data."""
from config.instruments import Instrument, decimals_of
from config.logging import configure_logging
from config.settings import VENUES, Settings, VenueSettings, get_settings

__all__ = ["Instrument", "configure_logging", "Settings", "VENUES", "VenueSettings", "decimals_of", "get_settings"]
