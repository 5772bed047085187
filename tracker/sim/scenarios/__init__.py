"""A labelled network: days of realistic traffic with fakes, damage and excursions planted.

Where :mod:`tracker.sim.simulator` makes one demo day, this makes the data that
detection is measured on (``scripts/eval_detection.py``). It builds on
:func:`tracker.sim.simulator.build_network` (more couriers per station) and
produces what the API receives: registrations, scan events in the
simulator's format, customer reports, and ``labels`` saying what is true.

How a day goes, per delivery station:

1. Parcels are ordered from the two warehouses to addresses within a few
   kilometres of the station (Shanghai and Hangzhou dense, Altay sparse);
   some go to a pickup point, some to one of the station's office towers.
2. They travel warehouse -> sorting centre -> station, and the station's
   couriers take them out in two rounds (08:00 and 14:00). A round is a
   route: nearest neighbour from the station at e-bike speed, so an honest
   courier's consecutive scans are always physically possible.
3. At each stop the handover is scanned with what phones really produce:
   GPS error of about the reported accuracy, a few percent of multipath
   fixes hundreds of metres off in dense blocks, no fix indoors, proofs by
   the recipient, family, reception, a locker; a few failed attempts that
   go out again in the next round.

Planted, with labels (``Labels``):

* **Fake deliveries** (``fake_rate`` of home deliveries), one pattern each:
  ``gps_far`` (marked delivered at home after the round), ``no_pod``,
  ``otp_mismatch``, ``not_received`` (and the customer says so),
  ``after_delivery`` (the parcel turns up at the station later): all three
  marked while the courier stands at another stop; ``at_facility`` (marked
  at the station before leaving, often without an out-for-delivery scan);
  ``impossible_travel`` (GPS off, claimed at an address kilometres from
  where the courier scanned minutes before); ``bulk_signing`` (part of a
  round marked delivered from one spot).
* **Honest hard cases**, which must stay quiet: ``gps_noise_dense_block``,
  ``office_building``, ``pickup_point_many``, ``family_or_locker``,
  ``home_parcel_left_at_pickup_point``, ``honest_not_received``.
* **Damage**: background damage everywhere, and ``bad_hub`` damaging
  parcels many times more often; each label is the segment a custody
  chain can tell (where the parcel was last seen whole before the damage
  was found).
* **Cold chain**: perishable parcels with readings on every scan; a few
  have readings out of range.

Same seed and same ``now``, same data.

The package, each module under 400 lines:

=================  ==============================================================
``world``          the labels, the constants, geometry (:mod:`tracker.core.geo`),
                   the staffed network, a parcel's accumulated scans
``builder``        :func:`build_scenario`: registrations and the way to the station
                   (steps 1-2, damage), the days' rounds
``last_mile``      a courier's round: route, handovers, failed attempts, fakes (step 3)
=================  ==============================================================
"""

from tracker.sim.scenarios.builder import batches, build_scenario
from tracker.sim.scenarios.world import FAKE_PATTERNS, HARD_CASES, Labels, Scenario, staffed_network

__all__ = [
    "FAKE_PATTERNS",
    "HARD_CASES",
    "Labels",
    "Scenario",
    "batches",
    "build_scenario",
    "staffed_network",
]
