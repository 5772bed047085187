"""GS1 EPCIS 2.0: capture warehouse and sensor events in the standard format, answer standard queries.

=================  =========  ==================================================================
module             layer      what
=================  =========  ==================================================================
``views``          views      the ``epcis`` blueprint: ``/api/v1/epcis/capture``, ``/events``,
                              ``/locations``, ``/api/v1/parcels/{tracking_number}/epcis``
``capture``        service    capture jobs: one transaction per document, run in the request
                              (small documents) or on the process's capture thread (202)
``derive``         store      linked ObjectEvents -> scans through :mod:`tracker.scans.ingest`;
                              error declarations: the scans they void and the parcels re-derived
``store``          store      events, identifiers, parcel links, readings, locations; queries
``query``          pure       the REST binding's query parameters; the EPCIS query document
``document``       pure       schema validation (JSON pointers), events read from a document
``canonical``      pure       the CBV 2.0 canonical event hash (identity of events without eventID)
``cbv``            pure       CBV business steps and dispositions -> tracker scan types
``sensors``        pure       ``sensorElementList`` -> readings (°C for temperatures)
``identifiers``    pure       EPC URNs and GS1 Digital Links: canonical form, SSCC, GLN
``schema/``        data       the official EPCIS 2.0 JSON schema and JSON-LD context (SOURCE.md)
=================  =========  ==================================================================

Store modules take the caller's ``Connection`` and never begin or commit.
EPCIS field names (``eventID``, ``bizStep``, ``GE_eventTime``, ``perPage``,
``captureID``...) are the standard's, kept as the EPCIS 2.0 REST binding fixes
them; tracker's own fields in the same answers use tracker's names.
"""
