"""Builds strings.json and translations/<lang>.json from their sources.

Texts live in i18n/<lang>/<part>.json, one part per meter kind or feature
(common.json, homewizard.json, ...), so work on one kind never edits another's
file. Sensor names follow one pattern per language (a quantity name, then its
tariff, phase or channel) and are generated from the table below and
sensor.SENSORS. Run after changing either:

    .venv/bin/python scripts/translations.py          # rewrite the files
    .venv/bin/python scripts/translations.py --check  # exit 1 when out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from custom_components.wattkeeper.sensor import SENSORS, Variant  # noqa: E402

COMPONENT = ROOT / "custom_components" / "wattkeeper"
SOURCES = ROOT / "i18n"
LANGUAGES = ("en", "nl", "fr", "de")

# quantity → name per language (en, nl, fr, de).
NAMES: dict[str, tuple[str, str, str, str]] = {
    "power": ("Power", "Vermogen", "Puissance", "Leistung"),
    "power_import": ("Power import", "Vermogen afname", "Puissance importée", "Leistung Bezug"),
    "power_export": (
        "Power export",
        "Vermogen teruglevering",
        "Puissance exportée",
        "Leistung Einspeisung",
    ),
    "power_consumption": (
        "Consumption power",
        "Verbruiksvermogen",
        "Puissance consommée",
        "Verbrauchsleistung",
    ),
    "power_production": (
        "Production power",
        "Productievermogen",
        "Puissance produite",
        "Erzeugungsleistung",
    ),
    "pv_power": ("Solar power", "Zonnevermogen", "Puissance solaire", "Solarleistung"),
    "battery_power": (
        "Battery power",
        "Batterijvermogen",
        "Puissance batterie",
        "Batterieleistung",
    ),
    "average_demand": (
        "Average demand (15 min)",
        "Gemiddelde vraag (15 min)",
        "Demande moyenne (15 min)",
        "Durchschnittsleistung (15 min)",
    ),
    "monthly_peak": (
        "Monthly peak demand",
        "Maandpiek",
        "Pointe mensuelle",
        "Monatliche Spitzenleistung",
    ),
    "energy_import": ("Energy import", "Energie afname", "Énergie importée", "Energie Bezug"),
    "energy_export": (
        "Energy export",
        "Energie teruglevering",
        "Énergie exportée",
        "Energie Einspeisung",
    ),
    "energy_consumption": (
        "Consumption energy",
        "Verbruikte energie",
        "Énergie consommée",
        "Verbrauchte Energie",
    ),
    "energy_production": (
        "Production energy",
        "Geproduceerde energie",
        "Énergie produite",
        "Erzeugte Energie",
    ),
    "pv_energy": ("Solar yield", "Zonne-opbrengst", "Production solaire", "Solarertrag"),
    "pv_energy_daily": (
        "Solar yield today",
        "Zonne-opbrengst vandaag",
        "Production solaire du jour",
        "Solarertrag heute",
    ),
    "battery_charge_energy": (
        "Battery charged",
        "Batterij geladen",
        "Batterie chargée",
        "Batterie geladen",
    ),
    "battery_discharge_energy": (
        "Battery discharged",
        "Batterij ontladen",
        "Batterie déchargée",
        "Batterie entladen",
    ),
    "battery_charge_energy_daily": (
        "Battery charged today",
        "Batterij vandaag geladen",
        "Batterie chargée aujourd'hui",
        "Batterie heute geladen",
    ),
    "battery_discharge_energy_daily": (
        "Battery discharged today",
        "Batterij vandaag ontladen",
        "Batterie déchargée aujourd'hui",
        "Batterie heute entladen",
    ),
    "reactive_power": (
        "Reactive power",
        "Blindvermogen",
        "Puissance réactive",
        "Blindleistung",
    ),
    "apparent_power": (
        "Apparent power",
        "Schijnbaar vermogen",
        "Puissance apparente",
        "Scheinleistung",
    ),
    "power_factor": ("Power factor", "Arbeidsfactor", "Facteur de puissance", "Leistungsfaktor"),
    "voltage": ("Voltage", "Spanning", "Tension", "Spannung"),
    "current": ("Current", "Stroom", "Courant", "Strom"),
    "frequency": ("Frequency", "Frequentie", "Fréquence", "Frequenz"),
    "tariff": ("Tariff", "Tarief", "Tarif", "Tarif"),
    "voltage_sags": ("Voltage sags", "Spanningsdips", "Creux de tension", "Spannungseinbrüche"),
    "voltage_swells": (
        "Voltage swells",
        "Spanningspieken",
        "Surtensions",
        "Spannungsspitzen",
    ),
    "power_failures": (
        "Power failures",
        "Stroomonderbrekingen",
        "Coupures de courant",
        "Stromausfälle",
    ),
    "long_power_failures": (
        "Long power failures",
        "Lange stroomonderbrekingen",
        "Longues coupures de courant",
        "Lange Stromausfälle",
    ),
    "gas": ("Gas", "Gas", "Gaz", "Gas"),
    "water": ("Water", "Water", "Eau", "Wasser"),
    "water_flow": ("Water flow", "Waterdoorstroming", "Débit d'eau", "Wasserdurchfluss"),
    "heat": ("Heat", "Warmte", "Chaleur", "Wärme"),
    "pv_voltage": ("Solar voltage", "Zonnespanning", "Tension solaire", "Solarspannung"),
    "pv_current": ("Solar current", "Zonnestroom", "Courant solaire", "Solarstrom"),
    "inverter_efficiency": (
        "Inverter efficiency",
        "Omvormerrendement",
        "Rendement de l'onduleur",
        "Wechselrichterwirkungsgrad",
    ),
    "battery_soc": (
        "Battery charge",
        "Batterijlading",
        "Charge de la batterie",
        "Batterieladung",
    ),
    "temperature": ("Temperature", "Temperatuur", "Température", "Temperatur"),
    "wifi_strength": ("Wi-Fi strength", "Wifi-sterkte", "Force du Wi-Fi", "WLAN-Stärke"),
    "uptime": ("Uptime", "Bedrijfstijd", "Temps de fonctionnement", "Betriebszeit"),
}

# How a variant extends the name, per language.
VARIANTS: dict[Variant, tuple[str, str, str, str]] = {
    Variant.TARIFF: (
        "{name} tariff {tariff}",
        "{name} tarief {tariff}",
        "{name} tarif {tariff}",
        "{name} Tarif {tariff}",
    ),
    Variant.PHASE: (
        "{name} phase {phase}",
        "{name} fase {phase}",
        "{name} phase {phase}",
        "{name} Phase {phase}",
    ),
    Variant.CHANNEL: (
        "{name} {channel}",
        "{name} {channel}",
        "{name} {channel}",
        "{name} {channel}",
    ),
}

OTHER_ENTITIES: dict[str, dict[str, tuple[str, str, str, str]]] = {
    "switch": {"relay": ("Relay", "Relais", "Relais", "Relais")},
    # The external recorder's health (recorder_entities.py).
    "sensor": {
        "backlog": ("Backlog", "Achterstand", "Arriéré", "Rückstand"),
        "oldest_unsent_age": (
            "Oldest unsent reading",
            "Oudste niet-verzonden meting",
            "Plus ancienne mesure non envoyée",
            "Ältester nicht gesendeter Messwert",
        ),
        "last_success": (
            "Last successful write",
            "Laatste geslaagde schrijfactie",
            "Dernière écriture réussie",
            "Letzter erfolgreicher Schreibvorgang",
        ),
        "write_rate": ("Write rate", "Schrijfsnelheid", "Débit d'écriture", "Schreibrate"),
        "dropped": (
            "Dropped readings",
            "Weggegooide metingen",
            "Mesures supprimées",
            "Verworfene Messwerte",
        ),
        "rejected": (
            "Rejected readings",
            "Geweigerde metingen",
            "Mesures refusées",
            "Abgelehnte Messwerte",
        ),
        "outbox_used": (
            "Outbox used",
            "Wachtrij gebruikt",
            "File utilisée",
            "Warteschlange belegt",
        ),
        # The capacity tariff (capacity_sensor.py).
        "capacity_average": (
            "Quarter-hour average demand",
            "Kwartiergemiddelde vermogen",
            "Puissance moyenne du quart d'heure",
            "Viertelstunden-Mittelwert Leistung",
        ),
        "capacity_projected": (
            "Projected quarter-hour average",
            "Verwacht kwartiergemiddelde",
            "Moyenne prévue du quart d'heure",
            "Prognose Viertelstunden-Mittelwert",
        ),
        "capacity_month_peak": (
            "Peak this month",
            "Piek deze maand",
            "Pointe de ce mois",
            "Spitze diesen Monat",
        ),
        "capacity_rolling_average": (
            "Average monthly peak (12 months)",
            "Gemiddelde maandpiek (12 maanden)",
            "Moyenne des pointes mensuelles (12 mois)",
            "Durchschnittliche Monatsspitze (12 Monate)",
        ),
        # DSMR P1 ports (dsmr_sensor.py).
        "crc_errors": ("CRC errors", "CRC-fouten", "Erreurs CRC", "CRC-Fehler"),
        "parse_errors": (
            "Unreadable telegrams",
            "Onleesbare telegrammen",
            "Télégrammes illisibles",
            "Unlesbare Telegramme",
        ),
        "peak_history": (
            "Monthly peak history",
            "Historiek maandpieken",
            "Historique des pointes mensuelles",
            "Verlauf der Monatsspitzen",
        ),
        # Fluksometer readings the driver dropped (flukso_sensor.py).
        "unreadable_messages": (
            "Unreadable messages",
            "Onleesbare berichten",
            "Messages illisibles",
            "Unlesbare Nachrichten",
        ),
        "wrong_unit_readings": (
            "Readings in a wrong unit",
            "Metingen in een verkeerde eenheid",
            "Mesures dans une mauvaise unité",
            "Messwerte in falscher Einheit",
        ),
    },
    "binary_sensor": {
        "connected": ("Connected", "Verbonden", "Connecté", "Verbunden"),
        "database_connected": (
            "Database connected",
            "Database verbonden",
            "Base de données connectée",
            "Datenbank verbunden",
        ),
        "data_quality": ("Data quality", "Datakwaliteit", "Qualité des données", "Datenqualität"),
    },
}


def entity_section(language: str) -> dict[str, dict[str, dict[str, str]]]:
    index = LANGUAGES.index(language)
    sensors: dict[str, dict[str, str]] = {}
    for quantity, description in SENSORS.items():
        name = NAMES[quantity.value][index]
        sensors[quantity.value] = {"name": name}
        for variant in sorted(description.variants):
            template = VARIANTS[variant][index]
            sensors[f"{quantity.value}_{variant}"] = {
                # Keep the variant's own placeholder for Home Assistant to fill.
                "name": template.replace("{name}", name)
            }
        if {Variant.PHASE, Variant.CHANNEL} <= description.variants:
            # A channel on a phase: "{name} {channel} phase {phase}".
            both = VARIANTS[Variant.PHASE][index].replace(
                "{name}", VARIANTS[Variant.CHANNEL][index]
            )
            sensors[f"{quantity.value}_{Variant.PHASE}_{Variant.CHANNEL}"] = {
                "name": both.replace("{name}", name)
            }
    section: dict[str, dict[str, dict[str, str]]] = {"sensor": sensors}
    for platform, entities in OTHER_ENTITIES.items():
        named = section.setdefault(platform, {})
        for key, names in entities.items():
            if key in named:
                raise SystemExit(f"entity.{platform}.{key} is named twice")
            named[key] = {"name": names[index]}
    return section


def merge(into: dict[str, Any], part: dict[str, Any], where: str) -> None:
    """Deep-merge one part; the same text defined twice differently is an error."""
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value, f"{where}.{key}")
        elif key in into and into[key] != value:
            raise SystemExit(f"{where}.{key} is defined twice with different texts")
        else:
            into[key] = value


def build(language: str) -> dict[str, Any]:
    content: dict[str, Any] = {}
    parts = sorted((SOURCES / language).glob("*.json"), key=lambda p: (p.stem != "common", p.stem))
    for path in parts:
        merge(content, json.loads(path.read_text(encoding="utf-8")), f"{language}/{path.name}")
    # Generated names first; a part may add entities of its own (with states, attributes).
    from_parts = content.pop("entity", {})
    content["entity"] = entity_section(language)
    merge(content["entity"], from_parts, f"{language}/entity")
    return content


def targets() -> dict[Path, str]:
    result = {COMPONENT / "strings.json": "en"}
    result.update({COMPONENT / "translations" / f"{lang}.json": lang for lang in LANGUAGES})
    return result


def main() -> int:
    check = "--check" in sys.argv
    stale: list[str] = []
    for path, language in targets().items():
        wanted = json.dumps(build(language), indent=2, ensure_ascii=False) + "\n"
        if path.exists() and path.read_text(encoding="utf-8") == wanted:
            continue
        stale.append(str(path.relative_to(ROOT)))
        if not check:
            path.write_text(wanted, encoding="utf-8")
    if check and stale:
        print("Translations out of date; run scripts/translations.py:", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
