"""Explainable detection: fake deliveries, damage hotspots, cold chain (free of Flask).

Pure functions over immutable facts; the service builds the facts from rows,
calls these, and opens or updates cases from the results.

| module              | what                                                               |
| ------------------- | ------------------------------------------------------------------ |
| ``facts``           | ``EventFact``, ``ParcelFact``, ``CourierContext``, ``FacilityFact`` |
| ``fake_delivery``   | ``score_delivery`` -> ``Verdict``; the reason-code table           |
| ``delivery_signals``| what each fake-delivery signal measures                            |
| ``courier_activity``| a courier's travel legs and signing batches                        |
| ``geo``             | geodesic distance and GPS tolerance (``GpsModel``)                 |
| ``damage``          | ``attribute_damage``, exposure tallies, Wilson-based hotspots      |
| ``cold_chain``      | ``find_excursion``: out-of-range temperature readings              |
| ``stats``           | ``wilson_interval``                                                |
"""
