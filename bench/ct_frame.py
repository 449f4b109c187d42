"""CPU time to compute one CT frame: numpy versus the pure-Python reference.

One frame as the driver sees it by default: 7 inputs (1 voltage, 6 clamps) ×
3000 scans (60 samples per wave × 50 waves), sampled from the MCP3208 twin
with noise and jitter. Both implementations compute the same samples in the
same run; the figures are CPU time of this process (time.process_time).
Also measured: the sampler's own Python loop per frame against an SPI stand-in
that answers instantly, i.e. the CPU the driver spends besides the kernel's
SPI work; and a whole paced frame as the driver runs it on a Pi (the
MonotonicTimebase clock, which spins between scans, then the numpy maths):
its CPU share of one core over the frame's wall time is the real cost, set
against the compute-only share above. The scan rate that frame reached and
how late its scans were are printed too: they depend on this host's load,
which is why they live here and not in the tests.

Run: python -m bench.ct_frame [--repeat-numpy 200] [--repeat-python 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from custom_components.wattkeeper.meters.ct_compute import compute_frame
from custom_components.wattkeeper.meters.ct_config import CtConfig, CurrentChannel, VoltageChannel
from custom_components.wattkeeper.meters.ct_frame import Frame, FrameResult
from custom_components.wattkeeper.meters.ct_reference import compute_frame_reference
from custom_components.wattkeeper.meters.ct_sampler import Mcp3208Sampler, MonotonicTimebase
from simulators.mcp3208 import Mcp3208Simulator, Signal

RESULTS = Path(__file__).parent / "results" / "ct_frame.json"


def board() -> CtConfig:
    return CtConfig(
        device_id="bench-spi0.0",
        voltages=(VoltageChannel(channel=0),),
        currents=tuple(CurrentChannel(channel=c, voltage_channel=0) for c in range(1, 7)),
    )


def sampled_frame(config: CtConfig) -> Frame:
    signals = {0: Signal.sine(230.0, units_per_code=config.units_per_code(0), noise_codes=0.7)}
    for channel in range(1, 7):
        signals[channel] = Signal.sine(
            2.0 * channel,
            units_per_code=config.units_per_code(channel),
            phase_deg=-10.0 * channel,
            harmonics=((3, 0.3, 0.0), (5, 0.1, 0.0)),
            noise_codes=0.7,
        )
    sim = Mcp3208Simulator(signals, jitter_s=5e-6, seed=42)
    return Mcp3208Sampler(config, sim.opener, sim).sample()


def cpu_seconds(job: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        job()
        times.append(time.process_time() - start)
    return times


class _InstantSpi:
    """Answers every transfer at once with a mid-scale code."""

    max_speed_hz = 0
    mode = 0

    def open(self, bus: int, device: int) -> None:
        """Nothing to open."""

    def xfer2(self, data: list[int], /) -> list[int]:
        return [0, 0x08, 0x00]

    def close(self) -> None:
        """Nothing to close."""


class _FreeRunning:
    """A clock that never waits, so only the loop's own cost is measured."""

    def now(self) -> float:
        return time.perf_counter()

    def wait_until(self, deadline: float) -> None:
        """Do not pace."""


def paced_frames(config: CtConfig, count: int) -> dict[str, float]:
    """Sample and compute `count` frames on the host's clock, as the driver does."""
    sampler = Mcp3208Sampler(config, lambda bus, device: _InstantSpi(), MonotonicTimebase())
    cpu = wall = 0.0
    rates: list[float] = []
    lateness: list[float] = []
    period = config.scan_period_s
    for _ in range(count):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        frame = sampler.sample()
        compute_frame(frame, config)
        cpu += time.process_time() - cpu_start
        wall += time.perf_counter() - wall_start
        first = frame.times[0]
        rates.append((len(first) - 1) / float(first[-1] - first[0]))
        # How far each scan started after its slot (the first transfer's midpoint, roughly).
        late = first - (first[0] + period * np.arange(len(first)))
        lateness.append(float(np.percentile(late, 99)))
    return {
        "cpu_ms_per_frame": round(cpu / count * 1e3, 1),
        "wall_ms_per_frame": round(wall / count * 1e3, 1),
        "core_share_pct": round(cpu / wall * 100, 1),
        "scan_rate_hz": round(statistics.median(rates), 1),
        "target_scan_rate_hz": round(1 / period, 1),
        "late_p99_us": round(statistics.median(lateness) * 1e6, 1),
    }


def largest_difference(fast: FrameResult, slow: FrameResult) -> float:
    worst = 0.0
    for channel, a in fast.currents.items():
        b = slow.currents[channel]
        for x, y in ((a.irms, b.irms), (a.real_power, b.real_power)):
            assert x is not None
            assert y is not None
            worst = max(worst, abs(x - y) / max(abs(x), 1e-12))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat-numpy", type=int, default=200)
    parser.add_argument("--repeat-python", type=int, default=10)
    parser.add_argument("--paced-frames", type=int, default=3)
    args = parser.parse_args()

    config = board()
    frame = sampled_frame(config)
    codes, times = frame.as_lists()
    fast_result = compute_frame(frame, config)
    slow_result = compute_frame_reference(frame.channels, codes, times, config)

    def fast() -> object:
        return compute_frame(frame, config)

    def slow() -> object:
        return compute_frame_reference(frame.channels, codes, times, config)

    fast()  # warm up numpy's first-call paths
    numpy_s = statistics.median(cpu_seconds(fast, args.repeat_numpy))
    python_s = statistics.median(cpu_seconds(slow, args.repeat_python))
    sampler = Mcp3208Sampler(config, lambda bus, device: _InstantSpi(), _FreeRunning())
    sampler_s = statistics.median(cpu_seconds(sampler.sample, 5))
    paced = paced_frames(config, args.paced_frames)

    figures = {
        "frame": {"channels": len(frame.channels), "scans": frame.scans},
        "numpy_ms": round(numpy_s * 1e3, 3),
        "python_ms": round(python_s * 1e3, 3),
        "ratio_python_over_numpy": round(python_s / numpy_s, 1),
        "core_share_at_1_frame_per_s": {
            "numpy_pct": round(numpy_s * 100, 3),
            "python_pct": round(python_s * 100, 2),
        },
        "sampler_loop_ms_without_spi": round(sampler_s * 1e3, 1),
        "paced_frame": paced,
        "paced_over_compute_only": round(paced["core_share_pct"] / (numpy_s * 100), 1),
        "max_relative_difference": largest_difference(fast_result, slow_result),
        "repeats": {
            "numpy": args.repeat_numpy,
            "python": args.repeat_python,
            "paced_frames": args.paced_frames,
        },
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": platform.machine(),
        },
    }
    print(f"one frame: {len(frame.channels)} channels × {frame.scans} scans")
    print(f"numpy          {figures['numpy_ms']:>9} ms CPU")
    print(f"pure Python    {figures['python_ms']:>9} ms CPU (baseline, same samples, same run)")
    print(f"ratio          {figures['ratio_python_over_numpy']:>9} × faster with numpy")
    print(
        f"compute only, one core at 1 frame/s: numpy {numpy_s * 100:.3f} %, "
        f"pure Python {python_s * 100:.2f} %"
    )
    print(
        f"sampler loop   {figures['sampler_loop_ms_without_spi']:>9} ms CPU per frame, SPI excluded"
    )
    print(
        f"paced frame    {paced['cpu_ms_per_frame']:>9} ms CPU over {paced['wall_ms_per_frame']} ms"
        f" = {paced['core_share_pct']} % of one core (sampling with MonotonicTimebase + numpy),"
        f" {figures['paced_over_compute_only']} × the compute-only share"
    )
    print(
        "               (the wait between scans spins on sleep(0), which lets other runnable "
        "tasks in: the busier the host, the lower this share)"
    )
    print(
        f"               scans at {paced['scan_rate_hz']} Hz (target "
        f"{paced['target_scan_rate_hz']} Hz), 99th-percentile lateness {paced['late_p99_us']} µs"
    )
    print(f"results agree to {figures['max_relative_difference']:.1e} relative")
    print(f"measured on {platform.machine()}; a Raspberry Pi core is several times slower")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
