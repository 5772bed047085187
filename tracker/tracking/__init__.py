"""Public tracking: the customer's pages and their JSON twin (no API key).

=================  =====  ===================================================================
module             layer  what
=================  =====  ===================================================================
``pages``          views  the ``track_pages`` blueprint: HTML pages, forms, error pages
``api``            views  the ``track_api`` blueprint: ``/api/v1/track/...`` (in /openapi.json)
``http``           views  ``init_app`` (ProxyFix, Babel, rate limits, secret key) and the
                          request helpers both blueprints share (they own the transactions)
``store``          store  ``read_parcel``: the facts of one parcel
``feedback``       store  reports, ratings, appointments (rows in ``feedback``, cases)
``verification``   store  the phone-digits check, its limits, the signed cookie and tokens
``schemas``        pure   pydantic request models; ``view_to_dict``, the JSON answer
``view``           pure   ``ParcelFacts`` / ``TrackedEvent`` -> ``PublicView``; appointment windows
``masking``        pure   what a stranger may see of the recipient
``counters``       pure   the public rate limits (``PublicLimits``) and their in-memory counters
``i18n``           pure   the customer's language and the words of the view (Babel catalogs)
=================  =====  ===================================================================

Store modules take the caller's ``Connection`` and never begin or commit.
"""
