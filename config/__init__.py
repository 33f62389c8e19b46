"""Configuration: settings (pydantic-settings, env + TOML) and instrument reference data."""
from config.instruments import Instrument, decimals_of
from config.settings import VENUES, Settings, VenueSettings, get_settings

__all__ = ["Instrument", "Settings", "VENUES", "VenueSettings", "decimals_of", "get_settings"]
