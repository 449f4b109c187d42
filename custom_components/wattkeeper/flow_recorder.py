"""Config flow steps for the external recorder: backend, site, meters, retention.

The flow opens the backend once before creating the entry: that tests the
connection and the credentials and creates or migrates the schema. Reauth asks
for new credentials when the database refuses them at runtime; reconfigure
points the entry at another server. Passwords are never shown back: a stored
one is kept when the field is left empty, and a DSN is shown without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlow, OptionsFlow
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
from .on_demand import OnDemand, async_ensure
from .recorder import (
    BackendAuthError,
    BackendError,
    BackendUnavailableError,
    SchemaVersionError,
    SslMode,
    create_backend,
)
from .recorder.cassandra_config import CONSISTENCY_LEVELS
from .recorder_runtime import CASSANDRA_MAX_RETENTION_DAYS, backend_config
from .recorder_target import (
    CONF_DATABASE,
    dsn_password,
    dsn_with_password,
    dsn_without_password,
    recorder_unique_id,
)
from .statistics_options import async_statistics_fields, statistics_options

# What each backend's connection step asks; reconfigure replaces exactly these.
CONNECTION_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    BACKEND_POSTGRESQL: (
        CONF_DSN,
        CONF_HOST,
        CONF_PORT,
        CONF_DATABASE,
        CONF_USERNAME,
        CONF_PASSWORD,
        CONF_SSL_MODE,
    ),
    BACKEND_CASSANDRA: (
        CONF_CONTACT_POINTS,
        CONF_PORT,
        CONF_KEYSPACE,
        CONF_LOCAL_DATACENTER,
        CONF_USERNAME,
        CONF_PASSWORD,
        CONF_TLS_CA_FILE,
        CONF_CONSISTENCY,
        CONF_REPLICATION,
    ),
}
_PASSWORD_SELECTOR: Final = selector.TextSelector(
    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
)


def retention_error(backend: str, days: int) -> str | None:
    """Cassandra stores raw retention as a TTL, which cannot exceed 20 years."""
    if backend == BACKEND_CASSANDRA and days > CASSANDRA_MAX_RETENTION_DAYS:
        return "retention_too_long"
    return None


def _wrong_datacenter(err: BackendError, data: Mapping[str, Any]) -> bool:
    # The library names the datacenters the cluster has in this error's message
    # (cassandra_session._datacenter_error); it has no error type of its own.
    return data[CONF_BACKEND] == BACKEND_CASSANDRA and "no datacenter named" in str(err)


def _shown(data: Mapping[str, Any], backend: str) -> dict[str, Any]:
    """An entry's connection settings as a form shows them: no password, a DSN without it."""
    shown = {
        key: value
        for key, value in data.items()
        if key in CONNECTION_FIELDS[backend] and key != CONF_PASSWORD
    }
    if shown.get(CONF_DSN):
        shown[CONF_DSN] = dsn_without_password(shown[CONF_DSN])
    return shown


class RecorderFlowMixin(ConfigFlow):
    """Steps for the external recorder; mixed into the one Wattkeeper config flow."""

    _recorder: dict[str, Any]
    _recorder_detail: str = ""

    async def async_step_recorder(self, user_input: dict[str, Any] | None = None) -> Result:
        """Which backend, which site, which meters, how long raw readings stay."""
        errors: dict[str, str] = {}
        if user_input is not None:
            backend = user_input[CONF_BACKEND]
            if error := retention_error(backend, int(user_input[CONF_RETENTION_DAYS])):
                errors[CONF_RETENTION_DAYS] = error
            else:
                self._recorder = {CONF_KIND: KIND_RECORDER, **user_input}
                self._recorder[CONF_SITE] = slugify(user_input[CONF_SITE]) or "home"
                if backend == BACKEND_POSTGRESQL:
                    return await self.async_step_recorder_postgresql()
                if backend == BACKEND_CASSANDRA:
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
        return self.async_show_form(
            step_id="recorder",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

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
                vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
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
                vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
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

    async def async_step_recorder_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """Point the entry at another server or cluster: the connection step, filled in."""
        entry = self._get_reconfigure_entry()
        backend = entry.data[CONF_BACKEND]
        if backend not in CONNECTION_FIELDS:
            return self.async_abort(reason="reconfigure_not_supported")
        self._recorder = {
            key: value for key, value in entry.data.items() if key not in CONNECTION_FIELDS[backend]
        }
        if backend == BACKEND_POSTGRESQL:
            return self._recorder_postgresql_form({}, _shown(entry.data, backend))
        return self._recorder_cassandra_form({}, _shown(entry.data, backend))

    async def async_step_recorder_reauth(self, entry_data: Mapping[str, Any]) -> Result:
        """The database refused the stored credentials: ask for new ones."""
        return await self.async_step_recorder_reauth_confirm()

    async def async_step_recorder_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        entry = self._get_reauth_entry()
        dsn = entry.data.get(CONF_DSN) if entry.data[CONF_BACKEND] == BACKEND_POSTGRESQL else None
        errors: dict[str, str] = {}
        if user_input is not None:
            password = user_input.get(CONF_PASSWORD, "")
            if dsn:
                updates = {CONF_DSN: dsn_with_password(dsn, password)}
            else:
                updates = {
                    CONF_USERNAME: user_input.get(CONF_USERNAME, ""),
                    CONF_PASSWORD: password,
                }
            data = {**entry.data, **updates}
            error = await self._recorder_check(data)
            if error is None:
                return self.async_update_reload_and_abort(
                    entry, data=data, reason="database_credentials_updated"
                )
            errors["base"] = error
        fields: dict[vol.Marker, Any] = {}
        if not dsn:
            fields[vol.Optional(CONF_USERNAME)] = str
        fields[vol.Optional(CONF_PASSWORD)] = _PASSWORD_SELECTOR
        return self.async_show_form(
            step_id="recorder_reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), {CONF_USERNAME: entry.data.get(CONF_USERNAME)}
            ),
            errors=errors,
            description_placeholders={"title": entry.title, "error": self._recorder_detail},
        )

    async def _recorder_finish(self, connection: dict[str, Any], step_id: str) -> Result:
        data = {**self._recorder, **connection}
        reconfiguring = self.source == SOURCE_RECONFIGURE
        if reconfiguring:
            _keep_stored_password(data, self._get_reconfigure_entry().data)
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
        unique_id = recorder_unique_id(data)
        if reconfiguring:
            entry = self._get_reconfigure_entry()
            if any(
                other.unique_id == unique_id and other.entry_id != entry.entry_id
                for other in self._async_current_entries(include_ignore=False)
            ):
                return self.async_abort(reason="already_configured")
            return self.async_update_reload_and_abort(
                entry, unique_id=unique_id, data=data, reason="database_updated"
            )
        await self.async_set_unique_id(unique_id)
        self._abort_if_unique_id_configured()
        title = f"Recorder {data[CONF_SITE]} ({data[CONF_BACKEND]})"
        return self.async_create_entry(title=title, data=data)

    async def _recorder_check(self, data: dict[str, Any]) -> str | None:
        """Open the backend once: connection, credentials, schema. None when all is well."""
        self._recorder_detail = ""
        if data[CONF_BACKEND] == BACKEND_CASSANDRA and not await async_ensure(
            self.hass, OnDemand.CASSANDRA
        ):
            return "cassandra_driver_missing"
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
            # E.g. a missing permission. Say it as it is (the library keeps secrets out).
            self._recorder_detail = str(err)
            if _wrong_datacenter(err, data):
                return "wrong_datacenter"
            LOGGER.warning("The recorder backend refused the settings: %s", err)
            return "database_rejected"
        finally:
            await backend.close()
        return None


def _keep_stored_password(data: dict[str, Any], stored: Mapping[str, Any]) -> None:
    """Reconfigure shows no password: an empty one keeps the stored one."""
    if data.get(CONF_DSN):
        if not dsn_password(data[CONF_DSN]) and stored.get(CONF_DSN):
            data[CONF_DSN] = dsn_with_password(data[CONF_DSN], dsn_password(stored[CONF_DSN]))
    elif data.get(CONF_USERNAME) and not data.get(CONF_PASSWORD) and stored.get(CONF_PASSWORD):
        data[CONF_PASSWORD] = stored[CONF_PASSWORD]


class RecorderOptionsFlowMixin(OptionsFlow):
    """Which meters are recorded, raw retention and the outbox quota."""

    async def async_step_recorder_options(self, user_input: dict[str, Any] | None = None) -> Result:
        errors: dict[str, str] = {}
        backend = self.config_entry.data[CONF_BACKEND]
        if user_input is not None:
            days = int(user_input[CONF_RETENTION_DAYS])
            if error := retention_error(backend, days):
                errors[CONF_RETENTION_DAYS] = error
            else:
                return self.async_create_entry(
                    data={
                        CONF_METERS: user_input.get(CONF_METERS, []),
                        CONF_RETENTION_DAYS: days,
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
        return self.async_show_form(
            step_id="recorder_options",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )


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
