/**
 * Energy and CO2 of a piece of work, by CodeCarbon's method (process mode) in TypeScript: CPU
 * energy from the process's CPU time at TDP / cores per busy core, RAM energy from resident memory,
 * GPU energy from the device's own power readings (NVML through nvidia-smi), times a carbon
 * intensity. The paper (§4.2.4, Fig. 3) uses CodeCarbon at 475 gCO2eq/kWh.
 */
// Pure (no Node APIs): workflows sum these too. The power model from the environment: power-model.ts.

/** CodeCarbon's TDP when the CPU model is not in its table. */
export const FALLBACK_CPU_TDP_W = 85;
/** 3 W per 8 GB of memory in use: CodeCarbon's RAM model up to 2.x (3.x counts DIMMs instead). */
export const RAM_W_PER_GB = 3 / 8;
/** The paper's carbon intensity (gCO2eq/kWh): the world average CodeCarbon used then. */
export const PAPER_CARBON_INTENSITY = 475;

export interface PowerModel {
  /** Watts one fully busy logical core draws: the package's TDP over its logical cores. */
  cpuWattsPerCore: number;
  ramWattsPerGb: number;
  /** gCO2eq per kWh of the electricity used. */
  carbonIntensity: number;
  /** Where the CPU figure came from, for the report: the configured TDP or the fallback, and the model. */
  cpuSource: string;
}

/** What a piece of work used, as measured. */
export interface ResourceUse {
  wallSeconds: number;
  /** User + system CPU seconds (a second of two busy cores counts 2). */
  cpuSeconds: number;
  /** Resident memory integrated over time (GB x seconds). */
  ramGbSeconds: number;
  /** From GPU power readings; 0 where no GPU was used. */
  gpuJoules: number;
}

export interface Energy extends ResourceUse {
  kwh: { cpu: number; ram: number; gpu: number; total: number };
  gCo2eq: number;
  /** The power model it was computed under, in words (absent on sums). */
  model?: string;
}

const JOULES_PER_KWH = 3_600_000;

export function energyOf(use: ResourceUse, model: PowerModel): Energy {
  const cpu = (use.cpuSeconds * model.cpuWattsPerCore) / JOULES_PER_KWH;
  const ram = (use.ramGbSeconds * model.ramWattsPerGb) / JOULES_PER_KWH;
  const gpu = use.gpuJoules / JOULES_PER_KWH;
  const total = cpu + ram + gpu;
  return { ...use, kwh: { cpu, ram, gpu, total }, gCo2eq: total * model.carbonIntensity, model: describeModel(model) };
}

export function describeModel(model: PowerModel): string {
  return `CPU ${model.cpuSource}; RAM ${model.ramWattsPerGb} W/GB; ${model.carbonIntensity} gCO2eq/kWh`;
}

export const NO_ENERGY: Energy = {
  wallSeconds: 0, cpuSeconds: 0, ramGbSeconds: 0, gpuJoules: 0, kwh: { cpu: 0, ram: 0, gpu: 0, total: 0 }, gCo2eq: 0,
};

/** Work done one after another or side by side: every quantity adds up (wall time too: it is work time). */
export function sumEnergy(parts: readonly (Energy | undefined)[]): Energy {
  return parts.reduce<Energy>((a, b) => (b === undefined ? a : {
    wallSeconds: a.wallSeconds + b.wallSeconds,
    cpuSeconds: a.cpuSeconds + b.cpuSeconds,
    ramGbSeconds: a.ramGbSeconds + b.ramGbSeconds,
    gpuJoules: a.gpuJoules + b.gpuJoules,
    kwh: { cpu: a.kwh.cpu + b.kwh.cpu, ram: a.kwh.ram + b.kwh.ram, gpu: a.kwh.gpu + b.kwh.gpu, total: a.kwh.total + b.kwh.total },
    gCo2eq: a.gCo2eq + b.gCo2eq,
  }), NO_ENERGY);
}
