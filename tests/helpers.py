"""Builders for request bodies used across the tests, and the loader of the benchmark scripts."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py``, loaded by path (the scripts are not a package), as module ``name``.

    With ``scripts/`` on ``sys.path``, as Python puts it when it runs a script
    there, so that the script imports its siblings (``cpu_meter``) as it does then.
    """
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def at(base: datetime, minutes: float = 0) -> str:
    """RFC 3339 in Shanghai time, ``minutes`` after ``base``."""
    return (base + timedelta(minutes=minutes)).astimezone(SHANGHAI).isoformat()


def scan(event_id: str, tracking_number: str, type_: str, occurred_at: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "tracking_number": tracking_number,
        "type": type_,
        "occurred_at": occurred_at,
        **extra,
    }


def journey(tracking_number: str, start: datetime, courier: str = "C-SH011") -> list[dict[str, Any]]:
    """A parcel's ordinary scans from label to doorstep, in time order."""
    tn = tracking_number
    return [
        scan(f"{tn}-1", tn, "created", at(start, 0), facility="WH-SH-01"),
        scan(f"{tn}-2", tn, "outbound", at(start, 60), facility="WH-SH-01"),
        scan(f"{tn}-3", tn, "arrived", at(start, 180), facility="SC-SH-01"),
        scan(f"{tn}-4", tn, "departed", at(start, 200), facility="SC-SH-01"),
        scan(f"{tn}-5", tn, "arrived", at(start, 260), facility="ST-SH-01"),
        scan(f"{tn}-6", tn, "out_for_delivery", at(start, 300), facility="ST-SH-01", courier_id=courier),
        scan(
            f"{tn}-7",
            tn,
            "delivered",
            at(start, 340),
            courier_id=courier,
            lat=31.2,
            lon=121.45,
            accuracy_m=10,
            pod={"signed_by": "本人", "relation": "self"},
        ),
    ]


def registration(tracking_number: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tracking_number": tracking_number,
        "service_level": "211",
        "ordered_at": "2026-11-20T09:12:00+08:00",
        "origin_facility": "WH-SH-01",
        "destination": {
            "lat": 31.2304,
            "lon": 121.4737,
            "region": "CN-31",
            "city": "上海",
            "district": "黄浦区",
            "postcode": "200001",
            "address": "南京东路100号5栋1202室",
        },
        "recipient": {"name": "张三丰", "phone": "13800001234"},
        "weight_kg": 1.2,
    }
    body.update(overrides)
    return body
