"""The detectors the sweep runs on each chunk of due parcels.

Kept apart from :mod:`tracker.sweep.run` so that the sweep does not import the
detection package, and tests can run the sweep with detectors of their own.
"""

from __future__ import annotations

from tracker.detection.evaluate import evaluate_parcels
from tracker.sweep.outcomes import settle_outcomes
from tracker.sweep.run import Detector

#: Suspected fake deliveries, damage (and its attribution), cold chain; lost parcels and
#: appointment outcomes.
DETECTORS: list[Detector] = [evaluate_parcels, settle_outcomes]
