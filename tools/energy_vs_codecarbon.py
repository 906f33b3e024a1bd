"""The product's energy meter (core/energy.ts) beside CodeCarbon itself, on the same run.

Runs `node bin/diffubias.js bench --only <names>` as a child of this process under CodeCarbon's
OfflineEmissionsTracker in process mode (it counts this process and its children, so the bench's
Node process; measured every second), at the same CPU power as the product's default (85 W over
this machine's logical cores: CodeCarbon's own fallback TDP), and prints both figures per run:
CPU seconds and CPU energy, RAM energy, total and gCO2eq at 475 gCO2eq/kWh.

    python3 -m venv .diffubias/tools/codecarbon-venv
    .diffubias/tools/codecarbon-venv/bin/pip install -r tools/requirements-energy.txt
    .diffubias/tools/codecarbon-venv/bin/python tools/energy_vs_codecarbon.py [--only train.mlp.cmnist,generate.demo]

Differences to expect: CodeCarbon also counts Node's start-up and the bench's set-up around the
measured spans, and (3.x) models RAM by DIMM count with a 10 W floor where the product uses 3 W per
8 GB of resident memory. Python stays here: nothing in the product calls it.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from codecarbon import OfflineEmissionsTracker

ROOT = Path(__file__).resolve().parent.parent
INTENSITY = 475.0  # gCO2eq/kWh, the paper's
TDP = 85.0  # CodeCarbon's fallback and the product's default (DIFFUBIAS_CPU_TDP_W)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="train.mlp.cmnist,generate.demo")
    args = parser.parse_args()
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    tracker = OfflineEmissionsTracker(
        country_iso_code="FRA", tracking_mode="process", measure_power_secs=1, force_cpu_power=TDP,
        save_to_file=False, log_level="error",
    )
    env = {**os.environ, "DIFFUBIAS_CPU_TDP_W": str(TDP), "DIFFUBIAS_CARBON_INTENSITY": str(INTENSITY)}
    tracker.start()
    run = subprocess.run([
        "node", str(ROOT / "bin" / "diffubias.js"), "bench", "--only", args.only,
    ], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    tracker.stop()
    cc = tracker.final_emissions_data
    ours = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    cpu_s = sum(b["cpuSeconds"] for b in ours)
    kwh_cpu = sum(b["kwhCpu"] for b in ours)
    kwh_ram = sum(b["kwhRam"] for b in ours)
    kwh = sum(b["kwh"] for b in ours)
    cc_co2 = cc.energy_consumed * INTENSITY  # the same intensity for both, not the country's
    print(f"workload: bench --only {args.only} ({', '.join(b['name'] for b in ours)}), {os.cpu_count()} logical cores, CPU at {TDP} W TDP")
    print(f"{'':28}{'product meter':>16}{'CodeCarbon ' + cc.codecarbon_version:>22}{'ratio':>8}")
    rows = [
        ("CPU energy (kWh)", kwh_cpu, cc.cpu_energy),
        ("RAM energy (kWh)", kwh_ram, cc.ram_energy),
        ("total (kWh)", kwh, cc.energy_consumed),
        (f"gCO2eq at {INTENSITY:.0f} g/kWh", kwh * INTENSITY, cc_co2),
    ]
    for name, a, b in rows:
        print(f"{name:28}{a:16.9f}{b:22.9f}{(a / b if b else float('nan')):8.3f}")
    print(f"CPU seconds in the measured spans: {cpu_s:.2f}; wall seconds CodeCarbon tracked: {cc.duration:.2f}; "
          f"CodeCarbon's CPU power model: {cc.cpu_model}, {cc.cpu_count} cores; RAM {cc.ram_power:.1f} W")
    return 0


if __name__ == "__main__":
    sys.exit(main())
