"""Suspected fake deliveries: an explainable score for each handover scan.

A ``delivered`` or ``collected`` scan is a claim: "the recipient has the
parcel, handed over here, now". :func:`score_delivery` collects the evidence
against that claim as reason codes, each with a readable detail and a weight,
and adds the weights up. The score is a pure function of every fact known at
the time of the call, so when evidence arrives late (a complaint, a scan
after the delivery, a missing out-for-delivery scan) the caller simply scores
again and opens, keeps or closes the ``suspected_fake_delivery`` case.

How it is put together::

    score_delivery(event, parcel, events, courier=, facilities=, config=)
      -> delivery_signals.collect_signals   what is present, with details
           (location, proof, sequence, facility, afterwards, customer,
            courier: courier_signals, on courier_activity's legs and batches;
            the codes and constants: signal_basis)
      -> weights from FakeDeliveryConfig      how much each one counts
      -> Verdict(score, suspected = score >= threshold, reasons)

The honest handover points are the parcel's address, its pickup point if it
has one, and a pickup point the scan itself names when ``facilities`` gives
its position (a ``collected`` scan is never judged against the address). The
scan is judged against the nearest, so a delivery to a pickup point is never
measured against the home address.

Reason codes and weights (threshold 1.0)
----------------------------------------

| code                     | weight | fires when                                                          |
| ------------------------ | -----: | ------------------------------------------------------------------- |
| `gps_far_from_address`   |    1.0 | a fix > 1 km beyond GPS tolerance of every honest handover point    |
| `scanned_after_delivery` |    1.0 | later scans show the parcel still in the network                    |
| `travel_contradicts_claim` | 1.0 | impossible travel from a GPS-fixed scan to this fix-less handover   |
| `scanned_at_facility`    |    0.8 | the scan was made at a warehouse, sorting centre or station         |
| `otp_mismatch`           |    0.7 | the one-time code entered is not the parcel's code                  |
| `customer_not_received`  |    0.6 | the recipient reported not_received after the scan                  |
| `bulk_signing`           |    0.6 | >= 5 parcels signed from one spot in 10 min, addressed elsewhere    |
| `gps_off_address`        |    0.5 | the fix is beyond GPS tolerance, by less than 1 km                  |
| `impossible_travel`      |    0.5 | the courier's previous or next scan is out of reach at top speed    |
| `no_proof_of_delivery`   |    0.4 | no signature, no photo and no one-time code                         |
| `no_out_for_delivery`    |    0.4 | delivered without out_for_delivery since the last facility arrival  |
| `not_ready_for_pickup`   |    0.4 | collected, but the parcel never reached the pickup point            |
| `no_gps_fix`             |    0.2 | a delivered scan has no usable fix                                  |
| `otp_missing`            |    0.2 | a code is expected; a handover to a person has other proof, no code |

GPS tolerance is ``200 m + 2 x reported accuracy`` (see
:mod:`tracker.detection.geo`): a 30 m fix 80 m off is inside it, a 10 m fix
2 km off is far beyond it.

Why these weights
-----------------

The scale: **1.0 is one strong, independent contradiction of the claim**;
0.5-0.8 is evidence with a plausible innocent reading; 0.2-0.4 is a weak
trace. The threshold 1.0 therefore opens a case on one strong signal, on two
moderate ones, or on a moderate one with weak ones; never on a single weak
trace or two of them (a missing photo alone is not even a trace: any one of
signature, photo or code is a proof).

* Strong (1.0). A good fix far beyond tolerance flatly contradicts "handed
  over here": tolerance already absorbs honest error, and what innocence is
  left (a bad geocode) deserves an ops look anyway. A later physical scan of
  the parcel in the network (after a 2 min grace for clocks) does not rest
  on the courier's word at all. Scans at the pickup point after a drop there
  are the normal flow and do not count.
* ``scanned_at_facility`` (0.8): parcels wait at stations, not doorsteps.
  It fires when the fix lies at a facility given in ``facilities``, or when
  there is no usable fix and the scan was recorded at one; it stays
  below 1.0 because a courier's scans may carry their home station's code.
* ``otp_mismatch`` (0.7): the code comes from the recipient, so a wrong one
  suggests it was made up; a typo is the innocent reading.
* ``customer_not_received`` (0.6): customers err (a family member took it),
  and a ``customer_dispute`` case exists for the complaint itself; as
  corroboration of anything else it is strong.
* ``bulk_signing`` (0.6): the pattern of signing a round from one place.
  Parcels to one building or one pickup point are *at* the spot, so they
  never count, and it only fires when this scan is itself off its address,
  so it always stacks on a GPS signal rather than accusing on its own.
* ``gps_off_address`` (0.5): large compounds, campuses and optimistic
  urban-canyon accuracy produce this honestly; it needs corroboration.
* ``impossible_travel`` (0.5): straight-line speed, beyond both ends' GPS
  error and over at least 500 m, above the vehicle's top speed proves that a
  time or a place is wrong, but not which of the two scans it is.
* ``travel_contradicts_claim`` (1.0): the same proof when it is not
  symmetric: this handover has no fix of its own (it is placed at the
  address it claims) while the courier's other scan has one. The only
  position on record then contradicts the claim, as a far fix would.
* Weak (0.4): a missing proof, or a skipped out_for_delivery or
  ready_for_pickup step, is the classic trace of signing from the station,
  but quick drops happen and scans arrive late or get skipped.
* Weakest (0.2): phones lose fixes indoors (though switching GPS off is also
  how one hides); family members and receptions rarely know the code.
  Lockers and pickup-point drops are exempt from ``otp_missing``.

Honest hard cases stay below 1.0 by construction: GPS noise in dense blocks
(inside tolerance, or ``gps_off_address`` alone), many parcels to one
building or pickup point (not "elsewhere"), a family member or locker
signing (a signature or photo is proof; ``otp_missing`` at most), and a
delivery to a pickup point (judged against the pickup point; its later scans
ignored).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from tracker.detection.delivery_signals import collect_signals
from tracker.detection.facts import (
    HANDOVER_TYPES,
    CourierContext,
    EventFact,
    FacilityFact,
    ParcelFact,
    chronological,
)
from tracker.detection.signal_basis import Code, SignalSettings

__all__ = [
    "CASE_TYPE",
    "DEFAULT_CONFIG",
    "DEFAULT_WEIGHTS",
    "Code",
    "FakeDeliveryConfig",
    "SignalSettings",
    "Verdict",
    "WeightedReason",
    "score_delivery",
]

CASE_TYPE = "suspected_fake_delivery"

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        Code.GPS_FAR: 1.0,
        Code.GPS_OFF: 0.5,
        Code.AFTER_DELIVERY: 1.0,
        Code.AT_FACILITY: 0.8,
        Code.OTP_MISMATCH: 0.7,
        Code.NOT_RECEIVED: 0.6,
        Code.BULK_SIGNING: 0.6,
        Code.IMPOSSIBLE_TRAVEL: 0.5,
        Code.TRAVEL_CONTRADICTS_CLAIM: 1.0,
        Code.NO_POD: 0.4,
        Code.NO_OUT_FOR_DELIVERY: 0.4,
        Code.NOT_READY_FOR_PICKUP: 0.4,
        Code.NO_GPS: 0.2,
        Code.OTP_MISSING: 0.2,
    }
)


@dataclass(frozen=True)
class FakeDeliveryConfig:
    """How much each signal weighs and where a case opens.

    A weight of 0 (or a code missing from ``weights``) switches a signal off.
    """

    threshold: float = 1.0
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    signals: SignalSettings = field(default_factory=SignalSettings)


DEFAULT_CONFIG = FakeDeliveryConfig()


@dataclass(frozen=True, slots=True)
class WeightedReason:
    code: str
    detail: str
    weight: float

    def as_dict(self) -> dict[str, str | float]:
        return {"code": self.code, "detail": self.detail, "weight": self.weight}


@dataclass(frozen=True, slots=True)
class Verdict:
    event_id: str
    tracking_number: str
    score: float
    threshold: float
    suspected: bool
    reasons: tuple[WeightedReason, ...]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(r.code for r in self.reasons)

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "score": self.score,
            "suspected": self.suspected,
            "reasons": [r.as_dict() for r in self.reasons],
        }


def score_delivery(
    event: EventFact,
    parcel: ParcelFact,
    events: Iterable[EventFact] = (),
    *,
    courier: CourierContext | None = None,
    facilities: Iterable[FacilityFact] = (),
    config: FakeDeliveryConfig = DEFAULT_CONFIG,
) -> Verdict:
    """Score one ``delivered`` or ``collected`` scan against all evidence known now.

    ``events`` are the parcel's scans (the judged one may be among them; scans
    of other parcels are ignored); ``parcel.reports`` are the customer's
    reports; ``courier`` enables the cross-parcel signals; and
    ``facilities`` (codes, kinds, positions) let a fix be recognised as made
    at a station, or at the pickup point the scan names.
    """
    if event.type not in HANDOVER_TYPES:
        raise ValueError(f"only delivered or collected scans are scored, got {event.type}")
    if event.tracking_number != parcel.tracking_number:
        raise ValueError("event and parcel have different tracking numbers")
    history = chronological(
        e for e in events if e.tracking_number == parcel.tracking_number and e.event_id != event.event_id
    )
    found = collect_signals(event, parcel, history, courier, {f.code: f for f in facilities}, config.signals)
    reasons = tuple(
        WeightedReason(code, detail, weight)
        for code, detail in found
        if (weight := config.weights.get(code, 0.0)) > 0
    )
    # Rounded so that weights such as 0.1 + 0.2 + 0.7 reach a threshold of 1.0.
    score = round(math.fsum(r.weight for r in reasons), 6)
    return Verdict(
        event.event_id,
        event.tracking_number,
        score,
        config.threshold,
        score >= config.threshold,
        reasons,
    )
