"""CityCard Kiosk: offline verification of city municipal ID cards."""

__version__ = "0.1.0"
