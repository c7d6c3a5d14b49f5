"""Scanning: frame sources, 2D scanners, the QR decoder chain and the scan pipeline."""
