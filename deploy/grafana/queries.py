"""What the dashboards ask Prometheus, and what the rules record.

For tests and for people checking a running stack::

    python deploy/grafana/queries.py        # one JSON object per panel query

Stdlib only and independent of the tracker package, so a test loads it by
path (``importlib.util.spec_from_file_location``) and an integration test can
send every ``PanelQuery.expr`` and every recording rule name to a real
Prometheus. Panel expressions use fixed range windows, no Grafana variables,
so they run against Prometheus as written.

:func:`metric_names` is a small lexer, not a PromQL parser: it drops string
literals, label matchers, ranges and grouping label lists, then keeps the
identifiers that are neither keywords nor function calls. That is enough for
the expressions we write; a selector by ``{__name__=...}`` alone names none.
"""

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEPLOY = Path(__file__).resolve().parent.parent
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
RULES = DEPLOY / "prometheus" / "rules"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:$.])[A-Za-z_:][\w:]*")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
    }
)
_RECORD = re.compile(r"^\s*-\s*record:\s*(\S+)\s*$", re.M)


@dataclass(frozen=True, slots=True)
class PanelQuery:
    dashboard: str  # the dashboard's uid
    panel_id: int
    title: str
    ref_id: str
    expr: str
    datasource_uid: str | None


def load_dashboards(directory: Path = DASHBOARDS) -> dict[Path, dict[str, Any]]:
    return {path: json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))}


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those folded inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    result = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            datasource = target.get("datasource") or panel.get("datasource") or {}
            result.append(
                PanelQuery(
                    dashboard=dashboard["uid"],
                    panel_id=panel["id"],
                    title=panel.get("title", ""),
                    ref_id=target.get("refId", ""),
                    expr=target.get("expr", ""),
                    datasource_uid=datasource.get("uid"),
                )
            )
    return result


def metric_names(expr: str) -> set[str]:
    """The metric and recording-rule names an expression selects."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        if match.group() not in _KEYWORDS and not rest.startswith("("):
            names.add(match.group())
    return names


def recording_rule_names(directory: Path = RULES) -> list[str]:
    """Names recorded by the rule files (read by line: no YAML library needed)."""
    return [
        name
        for path in sorted(directory.glob("*.yml"))
        for name in _RECORD.findall(path.read_text(encoding="utf-8"))
    ]


def main() -> None:
    for dashboard in load_dashboards().values():
        for query in panel_queries(dashboard):
            print(json.dumps(asdict(query), ensure_ascii=False))


if __name__ == "__main__":
    main()
