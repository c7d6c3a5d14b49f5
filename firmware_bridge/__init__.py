"""The one place that knows about wires: gates, readers and printers on serial lines.

The app sees `Gate` (grant, deny, and signals passed / timeout / alarm / offline / online)
and `Printer` (print a pass). Each device speaks the standard sites already own (Modbus RTU,
OSDP, ESC/POS), and each has a simulator in `firmware_bridge.simulators` that tests and
`kiosk demo` drive through the same code as real hardware.
"""
