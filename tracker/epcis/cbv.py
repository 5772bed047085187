"""CBV business steps and dispositions, and what they mean for a parcel (pure).

The GS1 Core Business Vocabulary (CBV 2.0) names what happened
(``bizStep``) and the state it left the objects in (``disposition``). A
linked ObjectEvent becomes one tracker scan per parcel (see
:mod:`tracker.epcis.derive`); its scan type comes from this table:

==========================================  ===========================  ==================================
CBV                                         scan type                    why
==========================================  ===========================  ==================================
bizStep ``shipping``, ``departing``,        ``departed`` (``outbound``   the parcel leaves a place; from its
``loading``                                 at the parcel's registered   origin warehouse that is the
                                            origin facility)             promise's clock start ("出库")
bizStep ``receiving``, ``arriving``,        ``arrived``                  the parcel is at a place
``accepting``, ``unloading``, ``storing``
bizStep ``commissioning``                   ``created``                  the label (SSCC) was issued
bizStep ``retail_selling``                  ``delivered`` is *not*       a sale is not a handover we
                                            derived: none                witnessed (kept, reported)
disposition ``in_transit`` (no mapped       ``departed``                 between two locations
bizStep)
disposition ``in_progress`` (no mapped      ``arrived``                  being handled at the location
bizStep)
disposition ``damaged`` / ``destroyed``     the type above with a        damage evidence for detection;
                                            ``damage`` object (severity  ``damaged`` when no step maps
                                            ``major`` / ``destroyed``)
disposition ``returned``                    ``returned``                 back to the sender
disposition ``stolen``                      ``exception`` (``lost``)
==========================================  ===========================  ==================================

Every other step (``inspecting``, ``sensor_reporting``, ``packing``...) and
disposition derives no scan: the event is stored, linked and its readings
kept, and the capture report says ``no_scan``. Terms outside CBV 2.0 (an
extension URI such as ``example:myStep``) are kept as given and listed in
the report as ``unknown_terms``: EPCIS allows extensions.

Values arrive as bare words (``shipping``), as CBV web URIs
(``https://ref.gs1.org/cbv/BizStep-shipping``) or as the EPCIS 1.x URNs
(``urn:epcglobal:cbv:bizstep:shipping``); :func:`bare` reads all three.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.core.vocabulary import EventType, ScanReason

BIZ_STEPS = frozenset(
    (
        "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
        "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
        "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
        "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
        "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
        "sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
        "transporting", "unloading", "unpacking", "void_shipping",
    )
)  # fmt: skip

DISPOSITIONS = frozenset(
    (
        "active", "available", "completeness_verified", "completeness_inferred", "conformant",
        "container_closed", "container_open", "damaged", "destroyed", "dispensed", "disposed",
        "encoded", "expired", "in_progress", "in_transit", "inactive", "mismatch_instance",
        "mismatch_class", "mismatch_quantity", "needs_replacement", "no_pedigree_match",
        "non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
        "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen",
        "unavailable", "unknown",
    )
)  # fmt: skip

_PREFIXES = {
    "bizStep": ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:", "cbv:BizStep-"),
    "disposition": ("https://ref.gs1.org/cbv/Disp-", "urn:epcglobal:cbv:disp:", "cbv:Disp-"),
}

DEPARTING_STEPS = frozenset({"shipping", "departing", "loading"})
ARRIVING_STEPS = frozenset({"receiving", "arriving", "accepting", "unloading", "storing"})

_DAMAGE = {"damaged": "major", "destroyed": "destroyed"}


def bare(field: str, value: str | None) -> str | None:
    """A CBV term as its bare word; a value of another vocabulary as given."""
    if value is None:
        return None
    for prefix in _PREFIXES[field]:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def unknown_terms(biz_step: str | None, disposition: str | None) -> list[str]:
    """The values that are not CBV 2.0 terms (kept as given; reported)."""
    unknown = []
    step, disp = bare("bizStep", biz_step), bare("disposition", disposition)
    if step is not None and step not in BIZ_STEPS:
        unknown.append(f"bizStep: {biz_step}")
    if disp is not None and disp not in DISPOSITIONS:
        unknown.append(f"disposition: {disposition}")
    return unknown


@dataclass(frozen=True)
class ScanMeaning:
    """What a scan derived from an event says: its type, and damage or a reason when it has one."""

    type: EventType
    damage_severity: str | None = None
    reason: ScanReason | None = None


def scan_meaning(
    biz_step: str | None, disposition: str | None, *, at_origin: bool = False
) -> ScanMeaning | None:
    """The scan a linked ObjectEvent derives (the module's table), or None.

    ``at_origin``: the event happened at the parcel's registered origin
    facility, where leaving is ``outbound`` rather than ``departed``.
    """
    step, disp = bare("bizStep", biz_step), bare("disposition", disposition)
    damage = _DAMAGE.get(disp or "")
    type_: EventType | None = None
    reason = None
    if step in DEPARTING_STEPS:
        type_ = EventType.OUTBOUND if at_origin else EventType.DEPARTED
    elif step in ARRIVING_STEPS:
        type_ = EventType.ARRIVED
    elif step == "commissioning":
        type_ = EventType.CREATED
    elif disp == "returned":
        type_ = EventType.RETURNED
    elif disp == "stolen":
        type_, reason = EventType.EXCEPTION, ScanReason.LOST
    elif disp == "in_transit":
        type_ = EventType.DEPARTED
    elif disp == "in_progress":
        type_ = EventType.ARRIVED
    if type_ is None and damage is not None:
        type_ = EventType.DAMAGED
    if type_ is None:
        return None
    return ScanMeaning(type_, damage, reason)
