import { MANIFEST_NAME, type Manifest } from './manifest';
import type { ArtifactStore } from '../../core/store';

export interface StageTime {
  stage: string;
  /** Units of the stage (a generate batch, a classifier role, ...). */
  units: number;
  /** Wall seconds summed over the units that recorded them. */
  seconds: number;
  /** Units whose manifest predates timing (no `seconds`). */
  untimed: number;
}

/**
 * Where an experiment's time went, per stage, from its stored manifests (each records the wall
 * seconds of the attempt that wrote it). Stages in order of first completion. Units run in
 * parallel add up, so the total can exceed the wall time.
 */
export async function stageTimes(store: ArtifactStore, experimentId: string): Promise<StageTime[]> {
  const keys = (await store.list(`runs/${experimentId}/`)).filter((k) => k.endsWith(`/${MANIFEST_NAME}`));
  const manifests = (await Promise.all(keys.map((k) => store.getJson<Manifest>(k)))).filter((m): m is Manifest => m !== null);
  manifests.sort((a, b) => a.completedAt.localeCompare(b.completedAt));
  const byStage = new Map<string, StageTime>();
  for (const m of manifests) {
    const t = byStage.get(m.stage) ?? { stage: m.stage, units: 0, seconds: 0, untimed: 0 };
    t.units += 1;
    if (typeof m.seconds === 'number') t.seconds += m.seconds;
    else t.untimed += 1;
    byStage.set(m.stage, t);
  }
  return [...byStage.values()];
}

/** The table `diffubias demo` prints. */
export function stageTimeLines(times: readonly StageTime[]): string[] {
  const total = times.reduce((a, t) => a + t.seconds, 0);
  return times.map((t) => {
    const share = total > 0 ? ` ${((100 * t.seconds) / total).toFixed(0).padStart(3)}%` : '';
    const untimed = t.untimed ? ` (${t.untimed} untimed)` : '';
    return `  ${t.stage.padEnd(18)}${t.seconds.toFixed(1).padStart(8)} s${share}  ${t.units} unit${t.units === 1 ? '' : 's'}${untimed}`;
  });
}
