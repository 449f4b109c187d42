"""Custom components for Home Assistant (this repository ships wattkeeper)."""
