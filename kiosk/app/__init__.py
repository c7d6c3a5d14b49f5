"""The appliance: the loop, its wiring from the config, the technician menu, audit and
metrics, trust sync and the doctor. Built on the core, the screens, the scanners and
firmware_bridge; never imported by them (tests/test_layers.py)."""
