"""Repair issues for data-quality problems that last (QualityReport.persistent).

One issue per meter and finding; it goes away when the finding clears. Two
problems have a fix flow (repairs.py): a Fluksometer sensor whose sign is the
wrong way round, and a counter that went backwards (accept its new value).

The issues' titles also word every finding in the binary sensors' attributes
and the `wattkeeper_data_quality` events, in Home Assistant's language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import translation
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import WattkeeperConfigEntry
from .meters.model import MeterIdentity, QuantityKey
from .quality.aggregator import QualityReport
from .quality.findings import CheckId, Finding, FixHint, Severity
from .sign_fix import sign_candidates


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueText:
    """How an issue is worded, and the fix flow it offers (if any)."""

    translation_key: str
    fix: FixHint | None = None


ISSUE_TEXTS: Final[Mapping[CheckId, IssueText]] = {
    CheckId.GAP: IssueText(translation_key="data_quality_gap"),
    CheckId.STUCK_VALUE: IssueText(translation_key="data_quality_stuck_value"),
    CheckId.IMPOSSIBLE_SIGN: IssueText(translation_key="data_quality_impossible_sign"),
    CheckId.PV_AT_NIGHT: IssueText(translation_key="data_quality_pv_at_night"),
    CheckId.COUNTER_BACKWARDS: IssueText(
        translation_key="data_quality_counter_backwards", fix=FixHint.ACCEPT_COUNTER
    ),
    CheckId.COUNTER_JUMP: IssueText(translation_key="data_quality_counter_jump"),
}
# A counter reset is a notice, never an issue: only its title is used, as a message.
NOTICE_TEXTS: Final[Mapping[CheckId, IssueText]] = {
    CheckId.COUNTER_RESET: IssueText(translation_key="data_quality_counter_reset"),
}
_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")
# A wrong sign on a meter whose signs are options (Fluksometer) can be flipped.
FLIP_SIGN_TEXT: Final = IssueText(translation_key="data_quality_flip_sign", fix=FixHint.FLIP_SIGN)

# Keys of the issue data the fix flows read.
DATA_ENTRY_ID: Final = "entry_id"
DATA_SERIAL: Final = "serial"
DATA_SERIES: Final = "series"
DATA_FIX: Final = "fix"
DATA_SENSORS: Final = "sensors"


class QualityIssues:
    """The open data-quality issues of one entry."""

    def __init__(self, hass: HomeAssistant, entry: WattkeeperConfigEntry) -> None:
        self._hass = hass
        self._entry = entry
        self._open: dict[str, set[str]] = {}

    async def async_load_texts(self) -> None:
        """Load the issues' texts in Home Assistant's language (for `message`)."""
        await translation.async_get_translations(
            self._hass, self._hass.config.language, "issues", {DOMAIN}
        )

    def message(self, identity: MeterIdentity, finding: Finding) -> str | None:
        """The finding in a sentence: its issue's title; None until the texts are loaded."""
        text = ISSUE_TEXTS.get(finding.check_id) or NOTICE_TEXTS.get(finding.check_id)
        if text is None:
            return None
        titles = translation.async_get_cached_translations(
            self._hass, self._hass.config.language, "issues", DOMAIN
        )
        title = titles.get(f"component.{DOMAIN}.issues.{text.translation_key}.title")
        if title is None:
            return None
        placeholders = self._placeholders(identity, finding)
        return _PLACEHOLDER.sub(lambda match: placeholders.get(match[1], match[0]), title)

    def issue_id(self, serial: str, finding_key: str) -> str:
        return f"data_quality_{self._entry.entry_id}_{serial}_{finding_key}"

    @callback
    def async_sync(
        self, identity: MeterIdentity, keys: Mapping[str, QuantityKey], report: QualityReport
    ) -> None:
        """Open issues for new persistent findings, close those that cleared."""
        wanted = {finding.key: finding for finding in report.persistent}
        opened = self._open.setdefault(identity.serial, set())
        for key in sorted(opened - wanted.keys()):
            ir.async_delete_issue(self._hass, DOMAIN, self.issue_id(identity.serial, key))
            opened.discard(key)
        for key, finding in wanted.items():
            if key not in opened and self._create(identity, keys, finding):
                opened.add(key)

    @callback
    def async_clear(self) -> None:
        for serial, keys in self._open.items():
            for key in keys:
                ir.async_delete_issue(self._hass, DOMAIN, self.issue_id(serial, key))
        self._open.clear()

    def _create(
        self, identity: MeterIdentity, keys: Mapping[str, QuantityKey], finding: Finding
    ) -> bool:
        text = ISSUE_TEXTS.get(finding.check_id)
        if text is None:
            return False
        data: dict[str, str | int | float | None] = {
            DATA_ENTRY_ID: self._entry.entry_id,
            DATA_SERIAL: identity.serial,
            DATA_SERIES: finding.series,
        }
        key = keys.get(finding.series) if finding.series is not None else None
        if finding.fix is FixHint.FLIP_SIGN and key is not None:
            sensors = sign_candidates(self._entry, key)
            if sensors:
                text = FLIP_SIGN_TEXT
                data[DATA_SENSORS] = ",".join(sensors)
        data[DATA_FIX] = text.fix.value if text.fix is not None else None
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id(identity.serial, finding.key),
            data=data,
            is_fixable=text.fix is not None,
            severity=(
                ir.IssueSeverity.ERROR
                if finding.severity is Severity.ERROR
                else ir.IssueSeverity.WARNING
            ),
            translation_key=text.translation_key,
            translation_placeholders=self._placeholders(identity, finding),
        )
        return True

    def _placeholders(self, identity: MeterIdentity, finding: Finding) -> dict[str, str]:
        since = dt_util.as_local(finding.since).strftime("%Y-%m-%d %H:%M")
        # The meter as the user named its device.
        device = dr.async_get(self._hass).async_get_device(identifiers={(DOMAIN, identity.serial)})
        name = (device.name_by_user or device.name) if device is not None else None
        placeholders = {**finding.placeholders, "name": name or identity.name, "since": since}
        if finding.series is not None:
            placeholders["series"] = self._series_name(
                identity.serial, finding.series, placeholders["name"]
            )
        return placeholders

    def _series_name(self, serial: str, series: str, device_name: str) -> str:
        """The sensor's name where one exists, else the series id. Without the
        device's name, which the texts give before it ("P1 meter: Power ...")."""
        entity_id = er.async_get(self._hass).async_get_entity_id(
            "sensor", DOMAIN, f"{serial}_{series}"
        )
        state = self._hass.states.get(entity_id) if entity_id is not None else None
        if state is None:
            return series
        if state.name.startswith(f"{device_name} "):
            return state.name[len(device_name) + 1 :]
        return state.name
