/**
 * Measures what pieces of work in this process use (CPU time, resident memory, GPU power) for
 * `energyOf`. One meter per process samples once a second while any span is open and splits each
 * interval's use evenly between the spans open in it: a worker running four captions at once gives
 * each a quarter, where measuring each alone would count the process four times.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { energyOf, type Energy, type PowerModel, type ResourceUse } from './energy';
import { powerModelFromEnv } from './power-model';
import { workerSettingsFromEnv } from './settings';

export interface ProcessProbe {
  /** User + system CPU time of the process so far, in microseconds. */
  cpuMicros(): number;
  rssBytes(): number;
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** The GPUs' power draw now, in watts; undefined where there is none to read. */
  gpuWatts(): number | undefined;
}

interface Reading {
  at: number;
  cpuMicros: number;
  rssBytes: number;
  gpuWatts: number | undefined;
}

interface SpanState {
  startedAt: number;
  use: ResourceUse;
}

export interface MeterSpan {
  /** Ends the span: what it used, in energy and CO2 under the meter's power model. */
  stop(): Energy;
}

const GB = 1e9;

export class EnergyMeter {
  private readonly open = new Set<SpanState>();
  private last: Reading | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly model: PowerModel,
    private readonly probe: ProcessProbe,
    private readonly intervalMs = 1_000,
  ) {}

  start(): MeterSpan {
    this.sample();
    const span: SpanState = { startedAt: this.probe.now(), use: { wallSeconds: 0, cpuSeconds: 0, ramGbSeconds: 0, gpuJoules: 0 } };
    this.open.add(span);
    if (!this.timer) {
      this.timer = setInterval(() => this.sample(), this.intervalMs);
      // A worker with nothing running must be free to exit.
      this.timer.unref();
    }
    let stopped: Energy | undefined;
    return {
      stop: () => {
        if (stopped) return stopped;
        this.sample();
        this.open.delete(span);
        if (this.open.size === 0 && this.timer) {
          clearInterval(this.timer);
          this.timer = undefined;
        }
        span.use.wallSeconds = (this.probe.now() - span.startedAt) / 1000;
        stopped = energyOf(span.use, this.model);
        return stopped;
      },
    };
  }

  /** Attributes the use since the last reading to the spans open now. */
  private sample(): void {
    const now: Reading = { at: this.probe.now(), cpuMicros: this.probe.cpuMicros(), rssBytes: this.probe.rssBytes(), gpuWatts: this.probe.gpuWatts() };
    const last = this.last;
    this.last = now;
    if (!last || this.open.size === 0) return;
    const seconds = (now.at - last.at) / 1000;
    if (seconds <= 0) return;
    const share = 1 / this.open.size;
    const cpuSeconds = (now.cpuMicros - last.cpuMicros) / 1e6;
    // Trapezoids: memory and power change between readings.
    const ramGbSeconds = ((last.rssBytes + now.rssBytes) / 2 / GB) * seconds;
    const watts = [last.gpuWatts, now.gpuWatts].filter((w): w is number => w !== undefined);
    const gpuJoules = watts.length ? (watts.reduce((a, b) => a + b, 0) / watts.length) * seconds : 0;
    for (const span of this.open) {
      span.use.cpuSeconds += cpuSeconds * share;
      span.use.ramGbSeconds += ramGbSeconds * share;
      span.use.gpuJoules += gpuJoules * share;
    }
  }
}

/**
 * `nvidia-smi --query-gpu=power.draw` lines: one number of watts per GPU, or "[N/A]" where the
 * board does not report it. Undefined when no GPU reports.
 */
export function parsePowerDraw(lines: readonly string[]): number | undefined {
  const watts = lines.map((l) => Number.parseFloat(l.trim())).filter((w) => Number.isFinite(w));
  return watts.length ? watts.reduce((a, b) => a + b, 0) : undefined;
}

/**
 * GPU power from `nvidia-smi` (NVML) sampled once a second by a child process, for the GPUs this
 * process may use (CUDA_VISIBLE_DEVICES). No nvidia-smi, no GPU: no readings, and no error.
 */
export function nvidiaSmiPower(env: NodeJS.ProcessEnv = process.env): { watts(): number | undefined; stop(): void } {
  const gpus = env.CUDA_VISIBLE_DEVICES?.trim();
  const args = ['--query-gpu=index,power.draw', '--format=csv,noheader,nounits', '-lms', '1000', ...(gpus ? ['-i', gpus] : [])];
  let latest = new Map<string, string>();
  let child: ReturnType<typeof spawn> | undefined;
  try {
    child = spawn('nvidia-smi', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    child.on('error', () => { child = undefined; });
    child.unref();
    (child.stdout as NodeJS.ReadableStream & { unref?: () => void }).unref?.();
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [index, draw] = line.split(',');
      if (index !== undefined && draw !== undefined) latest = new Map(latest).set(index.trim(), draw);
    });
  } catch {
    child = undefined;
  }
  return {
    watts: () => parsePowerDraw([...latest.values()]),
    stop: () => child?.kill(),
  };
}

let processMeter: EnergyMeter | undefined;

/** This process's meter, under the power model from the environment (core/energy.ts). */
export function defaultEnergyMeter(): EnergyMeter {
  if (!processMeter) {
    const gpu = workerSettingsFromEnv().readsGpuPower ? nvidiaSmiPower() : undefined;
    processMeter = new EnergyMeter(powerModelFromEnv(), {
      cpuMicros: () => { const u = process.cpuUsage(); return u.user + u.system; },
      rssBytes: () => process.memoryUsage.rss(),
      now: () => performance.now(),
      gpuWatts: () => gpu?.watts(),
    });
  }
  return processMeter;
}
