"""A Modbus RTU relay/IO module wired to a turnstile, served by pymodbus's own server.

The model: coil `unlock_coil` is the relay on the turnstile's unlock input. When it switches
on, a visitor (if `visitor_walks`) walks through `passage_delay_s` later, and the turnstile's
"passed" output (discrete input `passed_input`) closes for `passed_pulse_s`. `sneak()` is a
passage nobody granted; `force()` trips the alarm/forced output. The simulator counts every
time the coil was switched on, which is what the never-pulsed-without-a-grant test checks, and
every coil write it received (on and off), which is what the always-relocked tests check: a
request lost on the wire (see `Wire`'s `cut` fault) never reaches these counters.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

INPUTS = 16


class TurnstileModule:
    def __init__(
        self,
        port: str,
        unit: int = 1,
        unlock_coil: int = 0,
        passed_input: int = 0,
        alarm_input: int = 1,
        ready_input: int = 2,
        baudrate: int = 9600,
        passage_delay_s: float = 0.3,
        passed_pulse_s: float = 0.2,
    ) -> None:
        self.port = port
        self.unit = unit
        self.unlock_coil, self.passed_input = unlock_coil, passed_input
        self.alarm_input, self.ready_input = alarm_input, ready_input
        self.baudrate = baudrate
        self.passage_delay_s = passage_delay_s
        self.passed_pulse_s = passed_pulse_s
        self.visitor_walks = True
        self.unlocks = 0  # times the coil went from off to on
        self.unlock_times: list[float] = []  # time.monotonic() of each, for latency benchmarks
        self.passages = 0
        self.coil_on_writes = 0  # write requests received that switch the coil on
        self.coil_off_writes = 0  # and off (even when it was already off)
        self._coil = False
        self._tasks: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="turnstile-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("turnstile simulator did not start")

    def _serve(self) -> None:
        from pymodbus import FramerType
        from pymodbus.server import ModbusSerialServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop

        async def start() -> None:
            bits = [SimData(0, count=INPUTS, values=False, datatype=DataType.BITS)]
            registers = [SimData(0, values=0, datatype=DataType.REGISTERS)]
            device = SimDevice(
                id=self.unit,
                simdata=(
                    bits,
                    [SimData(0, count=INPUTS, values=False, datatype=DataType.BITS)],
                    registers,
                    [SimData(0, values=0, datatype=DataType.REGISTERS)],
                ),
                action=self._action,
            )
            self._server = ModbusSerialServer(
                device,
                port=self.port,
                framer=FramerType.RTU,
                baudrate=self.baudrate,
                reconnect_delay=0.1,
            )
            await self._server.serve_forever(background=True)
            await self._set_input(self.ready_input, True)
            self._ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    async def _action(
        self, fc: int, start_address: int, address: int, count: int, registers: Any, set_values: Any
    ) -> None:
        if (
            fc in (5, 15)
            and set_values is not None
            and address <= self.unlock_coil < address + max(count, 1)
        ):
            on = bool(set_values[self.unlock_coil - address])
            if on:
                self.coil_on_writes += 1
            else:
                self.coil_off_writes += 1
            if on and not self._coil:
                self.unlocks += 1
                self.unlock_times.append(time.monotonic())
                if self.visitor_walks:
                    assert self._loop is not None
                    self._loop.call_later(self.passage_delay_s, self._walk_through)
            self._coil = on
        return None

    @property
    def coil(self) -> bool:
        """The relay's state right now: True = the turnstile's unlock input is closed."""
        return self._coil

    def _walk_through(self) -> None:
        self.passages += 1
        self._pulse(self.passed_input, self.passed_pulse_s)

    def _pulse(self, number: int, seconds: float) -> None:
        assert self._loop is not None
        self._spawn(self._set_input(number, True))
        self._loop.call_later(seconds, lambda: self._spawn(self._set_input(number, False)))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    async def _set_input(self, number: int, value: bool) -> None:
        await self._server.async_setValues(self.unit, 2, number, [value])

    def _call(self, fn: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn)

    def sneak(self) -> None:
        """Someone passes without a grant (climbs over, tailgates)."""
        self._call(lambda: self._pulse(self.passed_input, self.passed_pulse_s))

    def force(self, seconds: float = 0.5) -> None:
        """The turnstile's alarm/forced output closes."""
        self._call(lambda: self._pulse(self.alarm_input, seconds))

    def set_ready(self, ready: bool) -> None:
        self._call(lambda: self._spawn(self._set_input(self.ready_input, ready)))

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=5)
