"""Explainable detection: fake deliveries, damage hotspots, cold chain (free of Flask)."""
