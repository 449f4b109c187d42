"""Meter drivers: plain asyncio, no Home Assistant import."""
