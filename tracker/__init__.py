"""tracker: logistics tracking and delivery-SLA monitoring.

The app factory lives in :mod:`tracker.app`; the path of a scan through the
code is drawn in the README ("How a scan flows").
"""

__version__ = "0.1.0"
