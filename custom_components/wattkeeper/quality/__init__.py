"""Data-quality and tariff logic. No homeassistant import.

Entry points for the glue:
- aggregator.MeterQuality: one per meter (and per sub-meter); observe() every
  Observation, evaluate(now) on a timer → QualityReport (binary sensor state and
  attributes, repair-worthy findings, transitions for `wattkeeper_data_quality`).
- capacity.CapacityTracker: one per meter with import energy or power;
  observe(snapshot) → CapacityReading; persist to_dict(), restore from_dict().
"""
