/** The power model (core/energy.ts) a worker measures under, from its environment and its CPU. */
import { availableParallelism, cpus } from 'node:os';
import { z } from 'zod';
import { ConfigError } from './errors';
import { FALLBACK_CPU_TDP_W, PAPER_CARBON_INTENSITY, RAM_W_PER_GB, type PowerModel } from './energy';

const positive = (name: string) => z.coerce.number({ error: `${name}: expected a number` }).positive(`${name}: must be above 0`);
const envSchema = z.object({
  DIFFUBIAS_CPU_TDP_W: positive('DIFFUBIAS_CPU_TDP_W').optional(),
  DIFFUBIAS_CPU_CORES: positive('DIFFUBIAS_CPU_CORES').int('DIFFUBIAS_CPU_CORES: must be an integer').optional(),
  DIFFUBIAS_RAM_W_PER_GB: positive('DIFFUBIAS_RAM_W_PER_GB').optional(),
  DIFFUBIAS_CARBON_INTENSITY: positive('DIFFUBIAS_CARBON_INTENSITY').optional(),
});

/**
 * The power model from the environment: DIFFUBIAS_CPU_TDP_W (the CPU package's TDP; default
 * CodeCarbon's 85 W), DIFFUBIAS_CPU_CORES (the logical cores that TDP covers; default this
 * machine's, which on a VM should be set to the host's), DIFFUBIAS_RAM_W_PER_GB, and
 * DIFFUBIAS_CARBON_INTENSITY in gCO2eq/kWh (default 475).
 */
export function powerModelFromEnv(env: NodeJS.ProcessEnv = process.env): PowerModel {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => i.message), 'the environment');
  const e = parsed.data;
  const cores = e.DIFFUBIAS_CPU_CORES ?? availableParallelism();
  const tdp = e.DIFFUBIAS_CPU_TDP_W ?? FALLBACK_CPU_TDP_W;
  const cpuModel = cpus()[0]?.model.trim() || 'unknown CPU';
  return {
    cpuWattsPerCore: tdp / cores,
    ramWattsPerGb: e.DIFFUBIAS_RAM_W_PER_GB ?? RAM_W_PER_GB,
    carbonIntensity: e.DIFFUBIAS_CARBON_INTENSITY ?? PAPER_CARBON_INTENSITY,
    cpuSource: `${cpuModel}: ${tdp} W ${e.DIFFUBIAS_CPU_TDP_W === undefined ? '(CodeCarbon\'s fallback TDP; set DIFFUBIAS_CPU_TDP_W)' : 'TDP (DIFFUBIAS_CPU_TDP_W)'} over ${cores} cores`,
  };
}
