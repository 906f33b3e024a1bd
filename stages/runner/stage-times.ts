import { readManifest, type Manifest } from './manifest';
import type { UnitPointer } from './stage-runner';
import type { ArtifactStore } from '../../core/store';

export interface StageTime {
  stage: string;
  /** Units of the stage (a generate batch, a classifier role, ...). */
  units: number;
  /** Wall seconds summed over the units that recorded them. */
  seconds: number;
  /** Units whose manifest predates timing (no `seconds`). */
  untimed: number;
  /** Units found stored (computed by an earlier experiment or run): their seconds are not counted. */
  reused: number;
  /** Of `seconds`, those the units spent in their model, where they say (generateBatch's `modelSeconds`). */
  modelSeconds?: number;
}

/**
 * Where an experiment's time went, per stage, from the units it used (its pointers under
 * `runs/<experimentId>/`) and their manifests (each records the wall seconds of the attempt that
 * wrote it). Stages in order of first completion. Units run in parallel add up, so the total can
 * exceed the wall time; reused units are counted apart and add no time.
 */
export async function stageTimes(store: ArtifactStore, experimentId: string): Promise<StageTime[]> {
  const keys = (await store.list(`runs/${experimentId}/`)).filter((k) => k.endsWith('.json'));
  const pointers = (await Promise.all(keys.map((k) => store.getJson<Partial<UnitPointer>>(k))))
    .filter((p): p is UnitPointer => typeof p?.manifestKey === 'string');
  const used = await Promise.all(pointers.map(async (p) => ({ pointer: p, manifest: await readManifest(store, p.manifestKey) })));
  const found = used.filter((u): u is { pointer: UnitPointer; manifest: Manifest } => u.manifest !== null);
  found.sort((a, b) => a.manifest.completedAt.localeCompare(b.manifest.completedAt));
  const byStage = new Map<string, StageTime>();
  for (const { pointer, manifest: m } of found) {
    const t = byStage.get(m.stage) ?? { stage: m.stage, units: 0, seconds: 0, untimed: 0, reused: 0 };
    t.units += 1;
    if (pointer.reused) t.reused += 1;
    else if (typeof m.seconds === 'number') {
      t.seconds += m.seconds;
      const model = (m.outputs as { modelSeconds?: unknown } | null)?.modelSeconds;
      if (typeof model === 'number') t.modelSeconds = (t.modelSeconds ?? 0) + model;
    } else t.untimed += 1;
    byStage.set(m.stage, t);
  }
  return [...byStage.values()];
}

/** The table `diffubias demo` prints. */
export function stageTimeLines(times: readonly StageTime[]): string[] {
  const total = times.reduce((a, t) => a + t.seconds, 0);
  return times.map((t) => {
    const share = total > 0 ? ` ${((100 * t.seconds) / total).toFixed(0).padStart(3)}%` : '';
    const notes = [
      t.modelSeconds !== undefined && t.seconds > 0 ? `${((100 * t.modelSeconds) / t.seconds).toFixed(0)}% in the model` : '',
      t.reused ? `${t.reused} reused` : '', t.untimed ? `${t.untimed} untimed` : '',
    ].filter(Boolean);
    return `  ${t.stage.padEnd(18)}${t.seconds.toFixed(1).padStart(8)} s${share}  ${t.units} unit${t.units === 1 ? '' : 's'}${notes.length ? ` (${notes.join(', ')})` : ''}`;
  });
}
