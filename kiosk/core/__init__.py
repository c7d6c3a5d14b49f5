"""The pure verifier and trust store: bytes, trust data, a clock value and a policy in, a
decision out. Imports nothing from the rest of the kiosk (tests/test_layers.py)."""
