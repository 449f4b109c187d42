"""Config flow steps for the external recorder: backend, site, meters, retention.

The flow opens the backend once before creating the entry: that tests the
connection and the credentials and creates or migrates the schema.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlow, OptionsFlow
from homeassistant.config_entries import ConfigFlowResult as Result
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.util import slugify

from .const import (
    BACKEND_CASSANDRA,
    BACKEND_POSTGRESQL,
    BACKEND_SQLITE,
    CONF_BACKEND,
    CONF_CONSISTENCY,
    CONF_CONTACT_POINTS,
    CONF_DSN,
    CONF_KEYSPACE,
    CONF_KIND,
    CONF_LOCAL_DATACENTER,
    CONF_METERS,
    CONF_QUOTA_MB,
    CONF_REPLICATION,
    CONF_RETENTION_DAYS,
    CONF_SITE,
    CONF_SSL_MODE,
    CONF_TLS_CA_FILE,
    DEFAULT_QUOTA_MB,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    KIND_RECORDER,
    LOGGER,
)
from .recorder import (
    BackendAuthError,
    BackendError,
    BackendUnavailableError,
    SchemaVersionError,
    SslMode,
    create_backend,
)
from .recorder.cassandra_config import CONSISTENCY_LEVELS
from .recorder_runtime import backend_config
from .statistics_options import async_statistics_fields, statistics_options

CONF_DATABASE = "database"


class RecorderFlowMixin(ConfigFlow):
    """Steps for the external recorder; mixed into the one Wattkeeper config flow."""

    _recorder: dict[str, Any]
    _recorder_detail: str = ""

    async def async_step_recorder(self, user_input: dict[str, Any] | None = None) -> Result:
        """Which backend, which site, which meters, how long raw readings stay."""
        if user_input is not None:
            self._recorder = {CONF_KIND: KIND_RECORDER, **user_input}
            self._recorder[CONF_SITE] = slugify(user_input[CONF_SITE]) or "home"
            if user_input[CONF_BACKEND] == BACKEND_POSTGRESQL:
                return await self.async_step_recorder_postgresql()
            if user_input[CONF_BACKEND] == BACKEND_CASSANDRA:
                return await self.async_step_recorder_cassandra()
            return await self._recorder_finish({}, "recorder")
        schema = vol.Schema(
            {
                vol.Required(CONF_BACKEND, default=BACKEND_SQLITE): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=[BACKEND_SQLITE, BACKEND_POSTGRESQL, BACKEND_CASSANDRA],
                        translation_key="backend",
                        mode=selector.SelectSelectorMode.LIST,
                    )
                ),
                vol.Required(
                    CONF_SITE, default=slugify(self.hass.config.location_name) or "home"
                ): str,
                vol.Optional(CONF_METERS, default=[]): _meters_selector(self.hass),
                vol.Required(CONF_RETENTION_DAYS, default=DEFAULT_RETENTION_DAYS): _days_selector(),
            }
        )
        return self.async_show_form(step_id="recorder", data_schema=schema)

    async def async_step_recorder_postgresql(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """Where PostgreSQL is: a DSN, or host, port, database, user and password."""
        if user_input is not None:
            return await self._recorder_finish(user_input, "recorder_postgresql")
        return self._recorder_postgresql_form({}, None)

    def _recorder_postgresql_form(
        self, errors: dict[str, str], user_input: dict[str, Any] | None
    ) -> Result:
        schema = vol.Schema(
            {
                vol.Optional(CONF_DSN): str,
                vol.Optional(CONF_HOST, default="127.0.0.1"): str,
                vol.Optional(CONF_PORT, default=5432): selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX
                    )
                ),
                vol.Optional(CONF_DATABASE, default="wattkeeper"): str,
                vol.Optional(CONF_USERNAME, default="wattkeeper"): str,
                vol.Optional(CONF_PASSWORD): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                ),
                vol.Optional(CONF_SSL_MODE, default=SslMode.PREFER.value): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=[mode.value for mode in SslMode], translation_key="ssl_mode"
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="recorder_postgresql",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={"error": self._recorder_detail},
        )

    async def async_step_recorder_cassandra(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """A Cassandra cluster: contact points, keyspace, datacenter, credentials, TLS."""
        if user_input is not None:
            return await self._recorder_finish(user_input, "recorder_cassandra")
        return self._recorder_cassandra_form({}, None)

    def _recorder_cassandra_form(
        self, errors: dict[str, str], user_input: dict[str, Any] | None
    ) -> Result:
        schema = vol.Schema(
            {
                vol.Required(CONF_CONTACT_POINTS): str,
                vol.Optional(CONF_PORT, default=9042): selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX
                    )
                ),
                vol.Optional(CONF_KEYSPACE, default="wattkeeper"): str,
                vol.Optional(CONF_LOCAL_DATACENTER, default="datacenter1"): str,
                vol.Optional(CONF_USERNAME): str,
                vol.Optional(CONF_PASSWORD): selector.TextSelector(
                    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                ),
                vol.Optional(CONF_TLS_CA_FILE): str,
                vol.Optional(CONF_CONSISTENCY, default="LOCAL_QUORUM"): selector.SelectSelector(
                    selector.SelectSelectorConfig(options=list(CONSISTENCY_LEVELS))
                ),
                vol.Optional(CONF_REPLICATION, default=""): str,
            }
        )
        return self.async_show_form(
            step_id="recorder_cassandra",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={"error": self._recorder_detail},
        )

    async def _recorder_finish(self, connection: dict[str, Any], step_id: str) -> Result:
        data = {**self._recorder, **connection}
        if CONF_PORT in data:
            data[CONF_PORT] = int(data[CONF_PORT])
        data[CONF_RETENTION_DAYS] = int(data[CONF_RETENTION_DAYS])
        error = await self._recorder_check(data)
        if error is not None:
            if step_id == "recorder_postgresql":
                return self._recorder_postgresql_form({"base": error}, connection)
            if step_id == "recorder_cassandra":
                return self._recorder_cassandra_form({"base": error}, connection)
            return self.async_abort(reason=error)
        target = {
            BACKEND_POSTGRESQL: data.get(CONF_DSN)
            or f"{data.get(CONF_HOST)}:{data.get(CONF_PORT)}/{data.get(CONF_DATABASE)}",
            BACKEND_CASSANDRA: f"{data.get(CONF_CONTACT_POINTS)}/{data.get(CONF_KEYSPACE)}",
        }.get(data[CONF_BACKEND], "embedded")
        await self.async_set_unique_id(f"recorder_{data[CONF_BACKEND]}_{target}_{data[CONF_SITE]}")
        self._abort_if_unique_id_configured()
        title = f"Recorder {data[CONF_SITE]} ({data[CONF_BACKEND]})"
        return self.async_create_entry(title=title, data=data)

    async def _recorder_check(self, data: dict[str, Any]) -> str | None:
        """Open the backend once: connection, credentials, schema. None when all is well."""
        try:
            backend = create_backend(backend_config(self.hass, data))
        except ValueError:
            return "invalid_settings"
        try:
            await backend.open()
            # Cassandra can also prove the permissions with a write, read and delete.
            probe = getattr(backend, "check", None)
            if probe is not None:
                await probe()
        except BackendAuthError:
            return "database_auth"
        except SchemaVersionError:
            return "schema_too_new"
        except BackendUnavailableError:
            return "database_unreachable"
        except BackendError as err:
            # E.g. Cassandra: no such datacenter, a missing permission. Say it as it is.
            LOGGER.warning("The recorder backend refused the settings: %s", err)
            self._recorder_detail = str(err)
            return "database_rejected"
        finally:
            await backend.close()
        return None


class RecorderOptionsFlowMixin(OptionsFlow):
    """Which meters are recorded, raw retention and the outbox quota."""

    async def async_step_recorder_options(self, user_input: dict[str, Any] | None = None) -> Result:
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_METERS: user_input.get(CONF_METERS, []),
                    CONF_RETENTION_DAYS: int(user_input[CONF_RETENTION_DAYS]),
                    CONF_QUOTA_MB: int(user_input[CONF_QUOTA_MB]),
                    **statistics_options(user_input),
                }
            )
        current = {**self.config_entry.data, **self.config_entry.options}
        schema = vol.Schema(
            {
                vol.Optional(CONF_METERS, default=current.get(CONF_METERS, [])): _meters_selector(
                    self.hass
                ),
                vol.Required(
                    CONF_RETENTION_DAYS,
                    default=current.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS),
                ): _days_selector(),
                vol.Required(
                    CONF_QUOTA_MB, default=current.get(CONF_QUOTA_MB, DEFAULT_QUOTA_MB)
                ): selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=16,
                        max=1_048_576,
                        step=1,
                        unit_of_measurement="MiB",
                        mode=selector.NumberSelectorMode.BOX,
                    )
                ),
                **(await async_statistics_fields(self.hass, current)),
            }
        )
        return self.async_show_form(step_id="recorder_options", data_schema=schema)


def _meters_selector(hass: HomeAssistant) -> selector.SelectSelector:
    """Wattkeeper's meter entries; choosing none records every meter."""
    meters = [
        selector.SelectOptionDict(value=entry.entry_id, label=entry.title)
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_KIND) != KIND_RECORDER
    ]
    return selector.SelectSelector(selector.SelectSelectorConfig(options=meters, multiple=True))


def _days_selector() -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=0, max=36500, step=1, unit_of_measurement="d", mode=selector.NumberSelectorMode.BOX
        )
    )
