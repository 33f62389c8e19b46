"""Configuration: settings (pydantic-settings, env + TOML), desk routing policies, instrument reference data."""

from config.instruments import Instrument, decimals_of
from config.logging import configure_logging
from config.policy import PolicyError, PolicySet, PolicyStore, RoutingPolicy, load_policies
from config.settings import VENUES, Settings, VenueSettings, get_settings

__all__ = [
    "Instrument",
    "PolicyError",
    "PolicySet",
    "PolicyStore",
    "RoutingPolicy",
    "Settings",
    "VENUES",
    "VenueSettings",
    "configure_logging",
    "decimals_of",
    "get_settings",
    "load_policies",
]
