"""Store-and-forward of readings to the user's own database. No homeassistant import."""
