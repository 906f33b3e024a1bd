/**
 * An experiment's energy and CO2 per stage and in total (paper Fig. 3), from what each stage
 * activity measured (core/energy.ts). Pure: the workflow computes it from activity results.
 */
import { sumEnergy, type Energy } from '../core/energy';

export interface StageEnergy {
  stage: string;
  units: number;
  /** Units that reported a measurement (results from before metering have none). */
  measured: number;
  energy: Energy;
}

export interface EnergySummary {
  stages: StageEnergy[];
  total: Energy;
  /** The power models the workers measured under, in words (one per distinct worker setup). */
  models: string[];
}

export function summarizeEnergy(stages: readonly (readonly [string, readonly { energy?: Energy }[]])[]): EnergySummary {
  const rows = stages.map(([stage, outputs]): StageEnergy => ({
    stage,
    units: outputs.length,
    measured: outputs.filter((o) => o.energy !== undefined).length,
    energy: sumEnergy(outputs.map((o) => o.energy)),
  }));
  const models = new Set<string>();
  for (const [, outputs] of stages) for (const o of outputs) if (o.energy?.model) models.add(o.energy.model);
  return { stages: rows, total: sumEnergy(rows.map((r) => r.energy)), models: [...models] };
}

/** The energy table `diffubias demo` prints: per stage, then the total and the power model. */
export function energyLines(summary: EnergySummary): string[] {
  const row = (name: string, e: Energy, note = '') =>
    `  ${name.padEnd(26)}${(e.kwh.total * 1000).toFixed(3).padStart(9)} Wh${e.gCo2eq.toFixed(3).padStart(10)} gCO2eq${e.cpuSeconds.toFixed(1).padStart(9)} CPU s${note}`;
  return [
    ...summary.stages.map((s) => row(s.stage, s.energy, s.measured < s.units ? `  (${s.units - s.measured} of ${s.units} units not measured)` : '')),
    row('total', summary.total),
    ...summary.models.map((m) => `  power model: ${m}`),
  ];
}
