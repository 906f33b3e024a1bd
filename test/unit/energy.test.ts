import { describe, expect, it } from 'vitest';
import { energyOf, sumEnergy, type PowerModel } from '../../core/energy';
import { powerModelFromEnv } from '../../core/power-model';
import { EnergyMeter, parsePowerDraw, type ProcessProbe } from '../../core/energy-meter';
import { workerSettingsFromEnv } from '../../core/settings';

const model: PowerModel = { cpuWattsPerCore: 42.5, ramWattsPerGb: 0.375, carbonIntensity: 475, cpuSource: 'test' };

describe('energy and CO2 (CodeCarbon\'s method)', () => {
  it('matches hand-computed values: an hour of one core at 85 W / 2 cores, 8 GB held for an hour, 100 Wh of GPU', () => {
    const e = energyOf({ wallSeconds: 3600, cpuSeconds: 3600, ramGbSeconds: 8 * 3600, gpuJoules: 360_000 }, model);
    // 42.5 W x 1 h = 0.0425 kWh; 8 GB x 0.375 W/GB x 1 h = 3 Wh; 360 kJ = 0.1 kWh.
    expect(e.kwh.cpu).toBeCloseTo(0.0425, 12);
    expect(e.kwh.ram).toBeCloseTo(0.003, 12);
    expect(e.kwh.gpu).toBeCloseTo(0.1, 12);
    expect(e.kwh.total).toBeCloseTo(0.1455, 12);
    expect(e.gCo2eq).toBeCloseTo(0.1455 * 475, 9);
    const twice = sumEnergy([e, undefined, e]);
    expect(twice.kwh.total).toBeCloseTo(0.291, 12);
    expect(twice.cpuSeconds).toBe(7200);
  });

  it('splits each interval between the spans open in it', () => {
    let t = 0;
    let cpu = 0;
    const probe: ProcessProbe = { now: () => t, cpuMicros: () => cpu, rssBytes: () => 2e9, gpuWatts: () => 100 };
    const meter = new EnergyMeter(model, probe, 3_600_000);
    const a = meter.start();
    t = 1000; cpu = 1e6;
    const b = meter.start(); // 0-1 s: A alone (1 CPU s, 2 GB s, 100 J)
    t = 2000; cpu = 3e6;
    const ea = a.stop(); // 1-2 s: shared (2 CPU s, 2 GB s, 100 J)
    t = 3000; cpu = 4e6;
    const eb = b.stop(); // 2-3 s: B alone
    expect(ea).toMatchObject({ wallSeconds: 2, cpuSeconds: 2, ramGbSeconds: 3, gpuJoules: 150 });
    expect(eb).toMatchObject({ wallSeconds: 2, cpuSeconds: 2, ramGbSeconds: 3, gpuJoules: 150 });
    expect(ea.kwh.cpu).toBeCloseTo((2 * 42.5) / 3.6e6, 15);
    expect(a.stop()).toBe(ea);
  });

  it('reads the power model from the environment, naming a bad variable', () => {
    const m = powerModelFromEnv({ DIFFUBIAS_CPU_TDP_W: '120', DIFFUBIAS_CPU_CORES: '48', DIFFUBIAS_CARBON_INTENSITY: '56' });
    expect(m).toMatchObject({ cpuWattsPerCore: 2.5, ramWattsPerGb: 0.375, carbonIntensity: 56 });
    expect(m.cpuSource).toContain('120 W TDP (DIFFUBIAS_CPU_TDP_W) over 48 cores');
    expect(powerModelFromEnv({}).cpuSource).toContain("85 W (CodeCarbon's fallback TDP");
    expect(() => powerModelFromEnv({ DIFFUBIAS_CPU_TDP_W: 'lots' })).toThrow(/DIFFUBIAS_CPU_TDP_W: expected a number/);
    expect(() => powerModelFromEnv({ DIFFUBIAS_CPU_CORES: '0' })).toThrow(/DIFFUBIAS_CPU_CORES: must be above 0/);
  });

  it('parses nvidia-smi power readings and reads GPU power only where the work is on a GPU', () => {
    expect(parsePowerDraw([' 71.20', '[N/A]', '65.3 '])).toBeCloseTo(136.5, 9);
    expect(parsePowerDraw(['[N/A]'])).toBeUndefined();
    expect(workerSettingsFromEnv({}).readsGpuPower).toBe(false);
    expect(workerSettingsFromEnv({ DIFFUBIAS_GENERATE_DEVICE: 'cuda' }).readsGpuPower).toBe(true);
    expect(workerSettingsFromEnv({ DIFFUBIAS_GENERATE_DEVICE: 'cuda', DIFFUBIAS_GPU_POWER: '0' }).readsGpuPower).toBe(false);
    expect(workerSettingsFromEnv({ DIFFUBIAS_GPU_POWER: '1' }).readsGpuPower).toBe(true);
  });
});
