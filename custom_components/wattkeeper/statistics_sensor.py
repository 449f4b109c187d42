"""The statistics backfill's progress, as a sensor on the recorder device."""

from __future__ import annotations

from homeassistant.components.sensor import SensorEntity
from homeassistant.const import PERCENTAGE

from .recorder_entities import RecorderEntity
from .recorder_runtime import HealthCoordinator
from .statistics_backfill import BackfillRunner


class BackfillProgressSensor(RecorderEntity, SensorEntity):
    """Percent done of the queued backfill jobs; unknown when none is queued."""

    _attr_translation_key = "statistics_backfill"
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_suggested_display_precision = 0

    def __init__(self, coordinator: HealthCoordinator, runner: BackfillRunner) -> None:
        super().__init__(coordinator, "statistics_backfill")
        self.runner = runner

    @property
    def native_value(self) -> float | None:
        return self.runner.progress

    @property
    def extra_state_attributes(self) -> dict[str, int]:
        return {"jobs": len(self.runner.jobs), "rows_forwarded": self.runner.rows_forwarded}
