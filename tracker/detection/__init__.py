"""Explainable detection: fake deliveries, damage hotspots, cold chain.

Three layers. The **pure** modules are plain data in, plain data out (``now``
passed in) and import neither Flask nor SQLAlchemy, directly or through other
modules: the detectors are pure functions over immutable facts. The **store**
modules take a SQLAlchemy ``Connection`` and never begin or commit: they build
the facts from rows, call the pure modules and keep the cases. The **views**
own the connection and serve the ops API.

| module               | layer | what                                                                |
| -------------------- | ----- | ------------------------------------------------------------------- |
| ``facts``            | pure  | ``EventFact``, ``ParcelFact``, ``CourierContext``, ``FacilityFact``  |
| ``fake_delivery``    | pure  | ``score_delivery`` -> ``Verdict``; the reason-code table            |
| ``signal_basis``     | pure  | the signals' codes, physical constants and the judged ``Place``     |
| ``delivery_signals`` | pure  | ``collect_signals``: what each fake-delivery signal measures        |
| ``courier_signals``  | pure  | impossible travel and bulk signing, from the courier's other scans  |
| ``courier_activity`` | pure  | a courier's travel legs and signing batches                         |
| ``geo``              | pure  | GPS tolerance (``GpsModel``); distances are ``tracker.core.geo``    |
| ``damage``           | pure  | ``attribute_damage``, exposure tallies, Wilson-based hotspots       |
| ``cold_chain``       | pure  | ``find_excursion``: out-of-range temperature readings               |
| ``stats``            | pure  | ``wilson_interval``                                                 |
| ``judge``            | pure  | a parcel's findings and what they do to its cases                   |
| ``store``            | store | rows to facts: scans, parcels, facilities, customer reports         |
| ``evaluate``         | store | ``evaluate_parcels``: the sweep's chunk judged, its cases kept      |
| ``hotspots``         | store | damage rates per facility, leg and courier over a period            |
| ``scorecards``       | store | a courier's or a facility's scorecard over a period                 |
| ``views``            | views | blueprint ``reports``: the scorecard and hotspot endpoints          |
"""
