"""The DSMR config flow against the telegram twin: TCP, serial (pty), USB discovery,
auto-detect, the Smarty key, errors, reconfigure, reauth and options."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import serial.tools.list_ports  # type: ignore[import-untyped]
import serial_asyncio_fast
from homeassistant.components import usb
from homeassistant.components.usb.models import USBDevice
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USB,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from homeassistant.loader import async_get_usb
from serial.tools.list_ports_common import ListPortInfo  # type: ignore[import-untyped]

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.meters.dsmr_versions import (
    SERIAL_9600_7E1,
    SERIAL_115200_8N1,
    DsmrVersion,
)
from simulators.dsmr import DsmrSimulator, Fault
from simulators.dsmr_meter import MeterModel
from simulators.dsmr_telegram import IDENTITIES, Identity, render
from simulators.dsmr_uart import SerialLine, settings_of

from .dsmr_helpers import (
    CHOICE,
    SMARTY_KEY,
    add_dsmr,
    fast_meters,  # noqa: F401  (autouse)
    parts,
    serial_input,
    sims_fixture,  # noqa: F401
    start_flow,
    tcp_input,
    until,
)

Sims = Callable[..., DsmrSimulator]
PLAIN_VERSIONS = [v.value for v in DsmrVersion if v is not DsmrVersion.V5L]


def serial_of(version: str) -> str:
    ident = IDENTITIES[version]
    return ident.equipment_id or ident.header.lstrip("/")


def usb_info(path: str) -> UsbServiceInfo:
    return UsbServiceInfo(
        device=path,
        vid="0403",
        pid="6001",
        serial_number="A10KMEC3",
        manufacturer="FTDI",
        description="FT232R USB UART",
    )


@pytest.mark.parametrize("version", PLAIN_VERSIONS)
async def test_auto_detect_finds_each_version(
    hass: HomeAssistant, sims: Sims, version: str
) -> None:
    sim = sims(version)
    await sim.start_tcp()
    entry = await add_dsmr(hass, sim)
    assert entry.unique_id == serial_of(version)
    assert entry.title == f"DSMR {version} smart meter"
    # The detected version is kept, so a restart does not detect again.
    assert dict(entry.data) == {
        "kind": "dsmr",
        "transport": "tcp",
        CONF_HOST: "127.0.0.1",
        CONF_PORT: sim.port,
        "dsmr_version": version,
    }
    assert dict(entry.options) == {"measurement_write_interval": 0, "counter_write_interval": 10}
    assert entry.state is ConfigEntryState.LOADED


async def test_a_chosen_version_is_kept(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("5B")
    await sim.start_tcp()
    entry = await add_dsmr(hass, sim, "5B")
    assert entry.data["dsmr_version"] == "5B"
    assert entry.unique_id == "1SAG1100042181"


async def test_smarty_asks_for_its_key(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("5L", key=SMARTY_KEY)
    await sim.start_tcp()
    flow_id = await start_flow(hass, "tcp")
    result = await hass.config_entries.flow.async_configure(flow_id, tcp_input(sim, "5L"))
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "dsmr_smarty")
    result = await hass.config_entries.flow.async_configure(flow_id, {"decryption_key": "not hex"})
    assert result["errors"] == {"decryption_key": "invalid_key_format"}
    result = await hass.config_entries.flow.async_configure(flow_id, {"decryption_key": "5A" * 16})
    assert result["errors"] == {"base": "invalid_key"}
    # Spaces and lower case, as keys are often written, are accepted.
    spaced = " ".join(SMARTY_KEY[i : i + 4] for i in range(0, 32, 4)).lower()
    result = await hass.config_entries.flow.async_configure(flow_id, {"decryption_key": spaced})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"]["decryption_key"] == SMARTY_KEY
    assert result["data"]["dsmr_version"] == "5L"
    assert result["result"].unique_id == serial_of("5L")


async def test_auto_detect_on_an_encrypted_meter_says_what_to_do(
    hass: HomeAssistant, sims: Sims
) -> None:
    sim = sims("5L", key=SMARTY_KEY)
    await sim.start_tcp()
    flow_id = await start_flow(hass, "tcp")
    result = await hass.config_entries.flow.async_configure(flow_id, tcp_input(sim))
    assert result["errors"] == {"base": "unreadable"}


async def test_link_errors_and_then_success(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("5")
    await sim.start_tcp()
    port = sim.port
    flow_id = await start_flow(hass, "tcp")
    # Nothing listens: unreachable.
    closed = {**tcp_input(sim), CONF_PORT: _free_port()}
    result = await hass.config_entries.flow.async_configure(flow_id, closed)
    assert result["errors"] == {"base": "p1_unreachable"}
    # Connected, but the meter is silent.
    sim.set_fault(Fault.SILENCE)
    result = await hass.config_entries.flow.async_configure(flow_id, tcp_input(sim, "5"))
    assert result["errors"] == {"base": "no_telegrams"}
    # Telegrams arrive but none reads (every checksum is wrong).
    sim.set_fault(Fault.BAD_CRC)
    result = await hass.config_entries.flow.async_configure(flow_id, tcp_input(sim, "5"))
    assert result["errors"] == {"base": "unreadable"}
    sim.set_fault(Fault.NONE)
    result = await hass.config_entries.flow.async_configure(flow_id, tcp_input(sim, "5"))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORT] == port
    await hass.async_block_till_done()


async def test_the_same_meter_twice_is_refused(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("4")
    await sim.start_tcp()
    await add_dsmr(hass, sim)
    flow_id = await start_flow(hass, "tcp")
    result = await hass.config_entries.flow.async_configure(flow_id, tcp_input(sim))
    assert result["errors"] == {"base": "link_in_use"}
    # The same meter through another bridge: the entry follows it there.
    other = sims("4")
    await other.start_tcp()
    result = await hass.config_entries.flow.async_configure(flow_id, tcp_input(other))
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    assert entry.data[CONF_PORT] == other.port
    await hass.async_block_till_done()


async def test_serial_port_picker(
    hass: HomeAssistant, sims: Sims, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = sims("5")
    path = await sim.start_pty()
    port = ListPortInfo(path, skip_link_detection=True)
    port.vid, port.pid, port.serial_number = 0x0403, 0x6001, "A10KMEC3"
    port.manufacturer, port.description = "FTDI", "FT232R USB UART"
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda: [port])
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    for step in ("dsmr", "dsmr_serial"):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": step}
        )
    assert result["step_id"] == "dsmr_serial"
    (device_selector,) = (v for k, v in result["data_schema"].schema.items() if k == CONF_DEVICE)
    assert device_selector.config["options"] == [
        {"value": path, "label": f"FT232R USB UART - {path}, s/n: A10KMEC3 - FTDI - 0403:6001"}
    ]
    # A port that is not listed (a GPIO UART, a bridge device) can be typed in.
    assert device_selector.config["custom_value"] is True
    result = await hass.config_entries.flow.async_configure(result["flow_id"], serial_input(path))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert dict(result["data"]) == {
        "kind": "dsmr",
        "transport": "serial",
        CONF_DEVICE: path,
        "dsmr_version": "5",
    }
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_serial_path_typed_by_hand(
    hass: HomeAssistant, sims: Sims, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An EasyMeter Q3D on a cable that passes its 9600 7E1 line as is: auto-detect
    hears only noise at 115200 8N1, reads the meter at 9600 7E1, and the entry
    opens the port that way."""
    sim = sims("Q3D")
    path = await sim.start_pty()
    line = SerialLine(SERIAL_9600_7E1)
    monkeypatch.setattr(
        serial_asyncio_fast, "create_serial_connection", line.create_serial_connection
    )
    flow_id = await start_flow(hass, "serial")
    result = await hass.config_entries.flow.async_configure(
        flow_id, serial_input("/dev/ttyWATTKEEPER-NONE")
    )
    assert result["errors"] == {"base": "p1_unreachable"}
    result = await hass.config_entries.flow.async_configure(flow_id, serial_input(path))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"]["dsmr_version"] == "Q3D"
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    opened = [settings_of(kwargs) for kwargs in line.opens if kwargs["url"] == path]
    # The flow: 115200 8N1 (noise), then 9600 7E1; the entry: 9600 7E1.
    assert opened == [SERIAL_115200_8N1, SERIAL_9600_7E1, SERIAL_9600_7E1]
    meter, _ = parts(result["result"])
    assert meter.stats.connects == 1


async def test_usb_discovery_asks_then_adds(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("5")
    path = await sim.start_pty()
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=usb_info(path)
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "dsmr_usb_confirm")
    assert result["description_placeholders"] == {"device": path}
    (progress,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert progress["context"]["title_placeholders"]["name"].startswith("FT232R USB UART")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"version": CHOICE["auto"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"][CONF_DEVICE] == path
    await hass.async_block_till_done()
    # Plugged in again (or seen at start-up): nothing more to ask.
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=usb_info(path)
    )
    assert (again["type"], again["reason"]) == (FlowResultType.ABORT, "already_configured")


async def test_usb_discovery_of_a_smarty_cable_asks_for_the_key(
    hass: HomeAssistant, sims: Sims
) -> None:
    sim = sims("5L", key=SMARTY_KEY)
    path = await sim.start_pty()
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=usb_info(path)
    )
    assert result["step_id"] == "dsmr_usb_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"version": CHOICE["5L"]}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "dsmr_smarty")
    assert _suggested(result, "decryption_key") is None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"decryption_key": SMARTY_KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert dict(result["data"]) == {
        "kind": "dsmr",
        "transport": "serial",
        CONF_DEVICE: path,
        "dsmr_version": "5L",
        "decryption_key": SMARTY_KEY,
    }
    assert result["result"].unique_id == serial_of("5L")
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_a_serial_port_in_use_is_refused(hass: HomeAssistant, sims: Sims) -> None:
    """One port takes one reader: a second entry on it would fight the first."""
    sim = sims("5")
    path = await sim.start_pty()
    flow_id = await start_flow(hass, "serial")
    result = await hass.config_entries.flow.async_configure(flow_id, serial_input(path))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry = result["result"]
    connects = parts(entry)[0].stats.connects
    flow_id = await start_flow(hass, "serial")
    result = await hass.config_entries.flow.async_configure(flow_id, serial_input(path, "5"))
    assert (result["type"], result["errors"]) == (FlowResultType.FORM, {"base": "link_in_use"})
    # Refused before listening: the entry kept its port.
    assert entry.state is ConfigEntryState.LOADED
    assert parts(entry)[0].stats.connects == connects
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_reconfigure_into_smarty_keeps_the_key(hass: HomeAssistant, sims: Sims) -> None:
    """A Smarty meter moves from its network bridge to a cable; the stored key is offered."""
    sim = sims("5L", key=SMARTY_KEY)
    await sim.start_tcp()
    path = await sim.start_pty()
    entry = await add_dsmr(hass, sim, "5L")
    result = await _reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "dsmr_serial"}
    )
    assert _suggested(result, "version") == "v5l"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], serial_input(path, "5L")
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "dsmr_smarty")
    assert _suggested(result, "decryption_key") == SMARTY_KEY
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"decryption_key": SMARTY_KEY}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    assert dict(entry.data) == {
        "kind": "dsmr",
        "transport": "serial",
        CONF_DEVICE: path,
        "dsmr_version": "5L",
        "decryption_key": SMARTY_KEY,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert parts(entry)[0].address == path


async def test_usb_discovery_follows_a_known_meter(hass: HomeAssistant, sims: Sims) -> None:
    """The meter was on a network bridge; now its cable is plugged in here."""
    sim = sims("5B")
    await sim.start_tcp()
    path = await sim.start_pty()
    entry = await add_dsmr(hass, sim)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=usb_info(path)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"version": CHOICE["5B"]}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")
    assert entry.data["transport"] == "serial"
    assert entry.data[CONF_DEVICE] == path
    await hass.async_block_till_done()
    meter, _ = parts(entry)
    assert meter.address == path


# (vid, pid, USB product string) as pyserial reports them.
P1_CABLES = [
    ("0403", "6001", "FT232R USB UART"),
    ("0403", "6001", "P1 Converter Cable"),
    ("0403", "6015", "FT230X Basic UART"),
    ("0403", "6015", "FT231X USB UART"),
    ("0403", "6015", "FT234XD"),
    ("0403", "6015", "Slimme meter P1 kabel"),
    ("10C4", "EA60", "CP2102 USB to UART Bridge Controller"),
    ("067B", "2303", "USB-Serial Controller"),
    ("067B", "23A3", "USB-Serial Controller"),
]
# Same chips in other roles: not offered as a P1 cable.
NOT_P1_CABLES = [
    ("0403", "6015", "FT240X USB FIFO"),
    ("10C4", "EA60", "Sonoff Zigbee 3.0 USB Dongle Plus"),
    ("0403", "6010", "Dual RS232-HS"),
]


async def test_usb_matchers_cover_common_p1_cables(hass: HomeAssistant) -> None:
    matchers = [m for m in await async_get_usb(hass) if m["domain"] == DOMAIN]
    vendors = {m["vid"] for m in matchers}
    assert vendors == {"0403", "10C4", "067B"}  # FTDI, Silicon Labs CP210x, Prolific

    def matched(vid: str, pid: str, description: str) -> bool:
        device = USBDevice(
            device="/dev/ttyUSB0",
            vid=vid,
            pid=pid,
            serial_number="A10KMEC3",
            manufacturer="FTDI",
            description=description,
        )
        # Home Assistant's own matching rule (vid/pid, then lower-case patterns).
        return any(usb._is_matching(device, matcher) for matcher in matchers)

    assert [cable for cable in P1_CABLES if not matched(*cable)] == []
    assert [cable for cable in NOT_P1_CABLES if matched(*cable)] == []


async def test_reconfigure_moves_the_meter_and_keeps_it(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("5")
    await sim.start_tcp()
    path = await sim.start_pty()
    entry = await add_dsmr(hass, sim)
    result = await _reconfigure(hass, entry)
    assert (result["type"], result["step_id"]) == (FlowResultType.MENU, "dsmr_reconfigure")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "dsmr_serial"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], serial_input(path, "5")
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    assert dict(entry.data) == {
        "kind": "dsmr",
        "transport": "serial",
        CONF_DEVICE: path,
        "dsmr_version": "5",
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert parts(entry)[0].address == path

    # Same port, another version: the entry lets go of the port while the flow listens.
    result = await _reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "dsmr_serial"}
    )
    assert _suggested(result, CONF_DEVICE) == path
    assert _suggested(result, "version") == "v5"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], serial_input(path))
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_refuses_another_meter(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("5")
    await sim.start_tcp()
    entry = await add_dsmr(hass, sim)
    other = sims("4")
    await other.start_tcp()
    result = await _reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "dsmr_tcp"}
    )
    assert _suggested(result, CONF_PORT) == sim.port
    result = await hass.config_entries.flow.async_configure(result["flow_id"], tcp_input(other))
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "wrong_device")
    assert entry.data[CONF_PORT] == sim.port


async def test_a_swapped_meter_is_refused_and_the_entry_resumes(
    hass: HomeAssistant, sims: Sims
) -> None:
    """The utility replaced the meter behind the cable: reconfigure says so and changes nothing."""
    sim = sims("5")
    path = await sim.start_pty()
    flow_id = await start_flow(hass, "serial")
    result = await hass.config_entries.flow.async_configure(flow_id, serial_input(path))
    entry = result["result"]
    await hass.async_block_till_done()
    model = MeterModel(seed=7)
    model.step()
    other = Identity("/ISK5\\2M550T-1012", "E0099000000000001")
    sim.replay = [render("5", model, other).text]
    result = await _reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "dsmr_serial"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], serial_input(path))
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "wrong_device")
    assert entry.data[CONF_DEVICE] == path
    # The entry let go of the port while the flow listened; it is back.
    await until(lambda: entry.state is ConfigEntryState.LOADED)


async def test_a_changed_smarty_key_starts_reauth(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("5L", key=SMARTY_KEY)
    await sim.start_tcp()
    entry = await add_dsmr(hass, sim, "5L")
    new_key = "A1" * 16
    sim.key = bytes.fromhex(new_key)  # the grid operator issued a new key
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "dsmr_smarty"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"decryption_key": new_key}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "key_updated")
    await hass.async_block_till_done()
    assert entry.data["decryption_key"] == new_key
    assert entry.state is ConfigEntryState.LOADED


async def test_options_set_the_write_intervals(hass: HomeAssistant, sims: Sims) -> None:
    sim = sims("5")
    await sim.start_tcp()
    entry = await add_dsmr(hass, sim)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "dsmr_options")
    assert _suggested(result, "counter_write_interval") == 10
    assert _suggested(result, "measurement_write_interval") == 0
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"measurement_write_interval": 2, "counter_write_interval": 60}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert dict(entry.options) == {"measurement_write_interval": 2, "counter_write_interval": 60}
    await until(lambda: entry.state is ConfigEntryState.LOADED)


async def _reconfigure(hass: HomeAssistant, entry: ConfigEntry) -> Any:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )


def _suggested(result: Any, field: str) -> Any:
    for key in result["data_schema"].schema:
        if key == field:
            return (key.description or {}).get("suggested_value")
    raise KeyError(field)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
