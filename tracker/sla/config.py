"""Service levels: the TOML file that defines them and its validation.

The package ships ``service_levels.toml`` as the default; a deployment may
point :func:`load_service_levels` at its own file, which then replaces the
default entirely (copy the shipped file to start from). Nothing is read at
import time: the app loads the file once, at start-up, and hands the
resulting :class:`ServiceLevels` to whoever needs it.

The file, in short::

    timezone = "Asia/Shanghai"            # default for every level
    holidays = [2026-10-01, ...]          # local dates
    [stale_after_hours]                   # per parcel status
    [remote]                              # provinces = [...], cities = [...]
    [levels.NAME]
    clock_starts_at = "outbound"          # or "ordered", "picked_up", "created"
    meets = ["delivered", "collected"]    # events that keep the promise
    observe_holidays = false              # push a promise off a holiday?
    cutoffs = [{until = 11:00:00, add_days = 0, deliver_by = 23:00:00}, ...]
    [levels.NAME.transit_days]            # extra days per region class
    [levels.NAME.stale_after_hours]       # overrides of the top-level table
    [customer_tiers.vip]                  # stale_factor = 0.5: a vip parcel is stale twice as soon

How a promise is computed from this lives in :mod:`tracker.sla.promise`.
Every mistake raises :class:`ServiceLevelConfigError`, naming the file, the
level and the key, so a bad deploy fails at start-up rather than at the first
parcel.
"""

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.core.vocabulary import FINAL_STATUSES, CustomerTier, EventType, ParcelStatus
from tracker.sla.regions import PROVINCE_CODE, Locality, RegionClass, RemoteAreas, region_class

DEFAULT_TIMEZONE = "Asia/Shanghai"
TIERS = frozenset(t.value for t in CustomerTier)
LEVEL_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
EVENT_TYPES = frozenset(e.value for e in EventType)
# A final parcel is never stale, so it cannot have a threshold.
WATCHED_STATUSES = frozenset(s.value for s in ParcelStatus if s not in FINAL_STATUSES)
# What can start a promise's clock: "ordered" is the parcel's ordered_at (set
# at registration), the others the first scan event of that type.
CLOCK_STARTS = frozenset({"ordered", EventType.CREATED, EventType.PICKED_UP, EventType.OUTBOUND})
LEVEL_KEYS = frozenset(
    {
        "clock_starts_at",
        "meets",
        "observe_holidays",
        "cutoffs",
        "timezone",
        "transit_days",
        "stale_after_hours",
    }
)


class ServiceLevelConfigError(ValueError):
    """A service-level file that cannot be used; the message says where and why."""

    def __init__(self, message: str, *, source: str, level: str | None = None, key: str | None = None):
        self.source, self.level, self.key = source, level, key
        where = source
        if level is not None:
            where += f": service level '{level}'"
        if key is not None:
            where += f": {key}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Cutoff:
    """A clock start at or before ``until`` (local, inclusive) is due ``add_days`` later by ``deliver_by``."""

    until: time
    add_days: int
    deliver_by: time


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    name: str
    clock_starts_at: str
    timezone: ZoneInfo
    # Ordered by ``until``; a clock start after the last one counts as the
    # next day's first instant (JD 211's "after 23:00 is next morning").
    cutoffs: tuple[Cutoff, ...]
    transit_days: Mapping[RegionClass, int]
    # The holidays this level observes: empty for levels that run on holidays.
    holidays: frozenset[date]
    meets: frozenset[EventType]
    stale_after: Mapping[ParcelStatus, timedelta]
    remote: RemoteAreas

    @property
    def uses_region_class(self) -> bool:
        """True when the promise depends on where the parcel goes (transit days differ by class)."""
        return len(set(self.transit_days.values())) > 1

    def requirements(self) -> dict[str, str]:
        """What a registration must carry for this level's promise: field (as the API names it) → why.

        A parcel of this level registered without one of these could never get a
        promise (and so never be late): registration refuses it instead.
        """
        needs: dict[str, str] = {}
        if self.clock_starts_at == "ordered":
            needs["ordered_at"] = f"service level {self.name!r} starts its clock at the order time"
        if self.uses_region_class:
            why = f"service level {self.name!r} counts transit days by how far the parcel travels"
            needs.update(dict.fromkeys(("origin_facility", "destination.region", "destination.city"), why))
        return needs

    @property
    def pickup(self) -> bool:
        """True when reaching a pickup point keeps the promise (the journey ends there)."""
        return "ready_for_pickup" in self.meets

    def region_class(self, origin: Locality, destination: Locality) -> RegionClass:
        return region_class(origin, destination, remote=self.remote)


class ServiceLevels(Mapping[str, ServiceLevel]):
    """The configured service levels by name, plus the shared remote areas."""

    def __init__(
        self,
        levels: Mapping[str, ServiceLevel],
        remote: RemoteAreas,
        stale_after: Mapping[ParcelStatus, timedelta] | None = None,
        tier_stale_factor: Mapping[str, float] | None = None,
        holidays: frozenset[date] = frozenset(),
    ):
        self._levels = dict(levels)
        self.remote = remote
        #: The file's top-level thresholds: for parcels with no (known) level.
        self.stale_after: Mapping[ParcelStatus, timedelta] = MappingProxyType(dict(stale_after or {}))
        #: Per customer tier, what its stale thresholds are multiplied by (``[customer_tiers.vip]``).
        self.tier_stale_factor: Mapping[str, float] = MappingProxyType(dict(tier_stale_factor or {}))
        #: The file's holiday schedule (every level's, observed or not): :meth:`holidays_until`.
        self.holidays = holidays

    def stale_after_for(
        self, level: ServiceLevel | None, tier: str | None
    ) -> Mapping[ParcelStatus, timedelta]:
        """The stale thresholds of a parcel of ``level`` (None: the file's) for a customer of ``tier``."""
        base = level.stale_after if level is not None else self.stale_after
        factor = self.tier_stale_factor.get(tier or "", 1.0)
        if factor == 1.0:
            return base
        return {status: limit * factor for status, limit in base.items()}

    def holidays_until(self) -> date | None:
        """The last day the holiday schedule covers: 31 December of its last year (None: no schedule)."""
        return date(max(self.holidays).year, 12, 31) if self.holidays else None

    def __getitem__(self, name: str) -> ServiceLevel:
        return self._levels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._levels)

    def __len__(self) -> int:
        return len(self._levels)

    def region_class(self, origin: Locality, destination: Locality) -> RegionClass:
        return region_class(origin, destination, remote=self.remote)


#: How long before the holiday schedule runs out the service starts warning.
HOLIDAY_WARNING = timedelta(days=30)


def holiday_schedule_warning(levels: ServiceLevels, today: date) -> str | None:
    """A warning when the file's holiday schedule ends within :data:`HOLIDAY_WARNING` of ``today``.

    Past its last year a level that observes holidays would count every day as
    a working day, silently: the State Council publishes the next year's
    schedule (with its make-up working days, 调休) around November.
    """
    last = levels.holidays_until()
    if last is None or last - today > HOLIDAY_WARNING:
        return None
    observing = sorted(name for name, level in levels.items() if level.holidays)
    return (
        f"the holiday schedule of the service levels ends {last.isoformat()}"
        f"{' (passed)' if last < today else ''}: add the next year's holidays to the service-level "
        f"file (TRACKER_SERVICE_LEVELS_PATH) before then; levels that observe them: {', '.join(observing)}"
    )


def load_service_levels(path: Path | None = None) -> ServiceLevels:
    """Read service levels from ``path``, or the shipped defaults when it is None."""
    if path is None:
        resource = resources.files("tracker.sla").joinpath("service_levels.toml")
        return parse_service_levels(
            resource.read_text(encoding="utf-8"), source="service_levels.toml (default)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServiceLevelConfigError(f"cannot read the file ({exc.strerror})", source=str(path)) from exc
    return parse_service_levels(text, source=str(path))


def parse_service_levels(text: str, *, source: str = "<string>") -> ServiceLevels:
    """Validate a service-level document given as TOML text."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ServiceLevelConfigError(f"not valid TOML ({exc})", source=source) from exc
    return _Reader(source).document(doc)


class _Reader:
    """Walks the parsed TOML; every ``fail`` names the level and key in hand."""

    def __init__(self, source: str):
        self.source = source
        self.level: str | None = None

    def fail(self, key: str | None, message: str) -> ServiceLevelConfigError:
        return ServiceLevelConfigError(message, source=self.source, level=self.level, key=key)

    def document(self, doc: dict[str, Any]) -> ServiceLevels:
        self.only(
            doc,
            {"timezone", "holidays", "stale_after_hours", "remote", "levels", "customer_tiers"},
            prefix="",
        )
        default_zone = self.zone("timezone", doc.get("timezone", DEFAULT_TIMEZONE))
        holidays = self.holidays(doc.get("holidays", []))
        stale = self.stale_hours("stale_after_hours", self.required_table(doc, "stale_after_hours"), {})
        remote = self.remote(self.required_table(doc, "remote"))
        levels = self.required_table(doc, "levels")
        if not levels:
            raise self.fail("levels", "at least one service level is needed")
        result = {}
        for name, table in levels.items():
            self.level = name
            if not LEVEL_NAME.match(name):
                raise self.fail(None, "a level name may hold only letters, digits, '_' and '-'")
            if not isinstance(table, dict):
                raise self.fail(None, "expected a table ([levels.NAME])")
            result[name] = self.service_level(name, table, default_zone, holidays, stale, remote)
        self.level = None
        factors = self.tier_factors(doc.get("customer_tiers", {}))
        return ServiceLevels(result, remote, stale, factors, holidays)

    def tier_factors(self, value: Any) -> dict[str, float]:
        if not isinstance(value, dict):
            raise self.fail("customer_tiers", "expected a table of [customer_tiers.TIER] tables")
        factors = {}
        for tier, table in value.items():
            key = f"customer_tiers.{tier}"
            if tier not in TIERS:
                raise self.fail(key, f"unknown customer tier; expected one of {sorted(TIERS)}")
            if not isinstance(table, dict):
                raise self.fail(key, "expected a table")
            self.only(table, {"stale_factor"}, prefix=f"{key}.")
            factor = table.get("stale_factor", 1.0)
            if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 1:
                raise self.fail(
                    f"{key}.stale_factor", f"expected a number above 0 and at most 1, got {factor!r}"
                )
            factors[tier] = float(factor)
        return factors

    def service_level(
        self,
        name: str,
        table: dict[str, Any],
        default_zone: ZoneInfo,
        holidays: frozenset[date],
        stale: dict[ParcelStatus, timedelta],
        remote: RemoteAreas,
    ) -> ServiceLevel:
        self.only(table, LEVEL_KEYS, prefix="")
        clock = self.required(table, "clock_starts_at")
        if clock not in CLOCK_STARTS:
            raise self.fail("clock_starts_at", f"must be one of {sorted(CLOCK_STARTS)}, got {clock!r}")
        observe = self.required(table, "observe_holidays")
        if not isinstance(observe, bool):
            raise self.fail("observe_holidays", f"expected true or false, got {observe!r}")
        return ServiceLevel(
            name=name,
            clock_starts_at=clock,
            timezone=self.zone("timezone", table["timezone"]) if "timezone" in table else default_zone,
            cutoffs=self.cutoffs(self.required(table, "cutoffs")),
            transit_days=self.transit_days(table.get("transit_days")),
            holidays=holidays if observe else frozenset(),
            meets=self.meets(self.required(table, "meets")),
            stale_after=MappingProxyType(
                self.stale_hours("stale_after_hours", table.get("stale_after_hours", {}), stale)
            ),
            remote=remote,
        )

    def cutoffs(self, value: Any) -> tuple[Cutoff, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail("cutoffs", "expected a non-empty array of {until, add_days, deliver_by} tables")
        result: list[Cutoff] = []
        for i, item in enumerate(value):
            key = f"cutoffs[{i}]"
            if not isinstance(item, dict):
                raise self.fail(key, "expected a table {until = ..., add_days = ..., deliver_by = ...}")
            self.only(item, {"until", "add_days", "deliver_by"}, prefix=f"{key}.")
            cutoff = Cutoff(
                until=self.local_time(f"{key}.until", self.required(item, "until", prefix=f"{key}.")),
                add_days=self.count(f"{key}.add_days", self.required(item, "add_days", prefix=f"{key}.")),
                deliver_by=self.local_time(
                    f"{key}.deliver_by", self.required(item, "deliver_by", prefix=f"{key}.")
                ),
            )
            if result and cutoff.until <= result[-1].until:
                raise self.fail(f"{key}.until", "cut-offs must be in increasing order of 'until'")
            # A same-day promise that ends before its cut-off could be due
            # before the clock even started.
            if cutoff.add_days == 0 and cutoff.deliver_by <= cutoff.until:
                raise self.fail(
                    f"{key}.deliver_by", "a same-day promise (add_days = 0) must end after 'until'"
                )
            result.append(cutoff)
        return tuple(result)

    def transit_days(self, value: Any) -> Mapping[RegionClass, int]:
        if value is None:
            return MappingProxyType(dict.fromkeys(RegionClass, 0))
        if not isinstance(value, dict):
            raise self.fail("transit_days", "expected a table of region class = days")
        self.only(value, {c.value for c in RegionClass}, prefix="transit_days.")
        # Listing every class, once the table exists, keeps a forgotten one
        # from silently meaning "zero extra days".
        missing = sorted(c.value for c in RegionClass if c.value not in value)
        if missing:
            raise self.fail("transit_days", f"missing region classes {missing}")
        return MappingProxyType(
            {c: self.count(f"transit_days.{c.value}", value[c.value]) for c in RegionClass}
        )

    def meets(self, value: Any) -> frozenset[str]:
        if not isinstance(value, list) or not value:
            raise self.fail("meets", "expected a non-empty array of event types")
        for event in value:
            if event not in EVENT_TYPES:
                raise self.fail("meets", f"unknown event type {event!r}; known: {sorted(EVENT_TYPES)}")
        return frozenset(EventType(event) for event in value)

    def stale_hours(
        self, key: str, value: Any, base: dict[ParcelStatus, timedelta]
    ) -> dict[ParcelStatus, timedelta]:
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table of parcel status = hours")
        self.only(value, WATCHED_STATUSES, prefix=f"{key}.")
        result = dict(base)
        for status, hours in value.items():
            if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
                raise self.fail(f"{key}.{status}", f"expected a positive number of hours, got {hours!r}")
            result[ParcelStatus(status)] = timedelta(hours=hours)
        return result

    def remote(self, table: dict[str, Any]) -> RemoteAreas:
        self.only(table, {"provinces", "cities"}, prefix="remote.")
        provinces = self.strings("remote.provinces", table.get("provinces", []))
        for code in provinces:
            if not PROVINCE_CODE.match(code.strip().upper()):
                raise self.fail("remote.provinces", f"{code!r} is not an ISO 3166-2:CN code such as 'CN-54'")
        return RemoteAreas.of(provinces, self.strings("remote.cities", table.get("cities", [])))

    def holidays(self, value: Any) -> frozenset[date]:
        if not isinstance(value, list):
            raise self.fail("holidays", "expected an array of local dates such as 2026-10-01")
        for day in value:
            # A TOML date-time parses to datetime, a subclass of date: refuse it.
            if type(day) is not date:
                raise self.fail("holidays", f"expected local dates such as 2026-10-01, got {day!r}")
        return frozenset(value)

    def zone(self, key: str, name: Any) -> ZoneInfo:
        if not isinstance(name, str):
            raise self.fail(key, f"expected an IANA time zone name, got {name!r}")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise self.fail(key, f"unknown time zone {name!r}") from exc

    def local_time(self, key: str, value: Any) -> time:
        if not isinstance(value, time):
            raise self.fail(key, f"expected a TOML local time such as 11:00:00, got {value!r}")
        return value

    def count(self, key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, f"expected a whole number of days (0 or more), got {value!r}")
        return value

    def strings(self, key: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "expected an array of non-empty strings")
        return value

    def required(self, table: dict[str, Any], key: str, *, prefix: str = "") -> Any:
        if key not in table:
            raise self.fail(f"{prefix}{key}", "missing")
        return table[key]

    def required_table(self, table: dict[str, Any], key: str) -> dict[str, Any]:
        value = self.required(table, key)
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        return value

    def only(self, table: dict[str, Any], known: set[str] | frozenset[str], *, prefix: str) -> None:
        # Unknown keys are typos until proven otherwise ("obsreve_holidays").
        for key in table:
            if key not in known:
                raise self.fail(f"{prefix}{key}", f"unknown key; expected one of {sorted(known)}")
