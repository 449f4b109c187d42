"""Data-quality and tariff logic. No homeassistant import."""
