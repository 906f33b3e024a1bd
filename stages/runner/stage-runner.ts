import { hashOf } from '../config/canonical-hash';
import { artifactKey } from '../artifacts';
import type { StageContext, StageProgress } from '../context';
import { checkManifest, describeFile, readManifest, unitManifestKey, type Manifest, type ManifestFile, type ManifestKey } from './manifest';
import type { ArtifactStore } from '../../core/store';
import type { Energy } from '../../core/energy';

export interface StageUnit {
  /** The experiment asking: recorded, and where its pointer to the unit goes; not part of the key. */
  experimentId: string;
  stage: string;
  /** The stage's code version (its declaration in stages/activity-table.ts): a unit computed by other code is not reused. */
  version: number;
  /** Names one piece of work within the stage (a role, an image index, a batch). */
  unit: string;
  /**
   * Everything the output depends on, and nothing else (no experiment id): any experiment whose
   * unit has equal inputs reuses the stored output.
   */
  inputs: unknown;
  /** What the inputs name only by path, by content: a model bundle's files, a dataset's listing. */
  identity?: unknown;
}

export interface StageHooks {
  progress(progress: StageProgress): void;
  resume?: StageProgress;
  signal?: AbortSignal;
  log?(message: string): void;
}

/**
 * What a stage activity returns: the engine's outputs and the key of the unit's manifest, which
 * readers of the unit's files (the next stage, the report) start from.
 */
export type WithManifest<O> = O & {
  manifestKey: ManifestKey<O>;
  /** Found stored, not computed by this call. */
  reused: boolean;
  /** What this call used (a reused unit: the check only), by core/energy.ts. */
  energy?: Energy;
  /**
   * The unit's own wall seconds as its manifest records them: this call's, or, for a reused unit,
   * those of the attempt that stored it (absent for manifests from before timing).
   */
  seconds?: number;
};

/** Where an experiment records which unit it used: `runs/<experimentId>/<stage>/<unit>.json`. */
export interface UnitPointer {
  manifestKey: ManifestKey<unknown>;
  reused: boolean;
}

export function unitPointerKey(experimentId: string, stage: string, unit: string): string {
  return `runs/${experimentId}/${stage}/${unit}.json`;
}

export interface StageResult<O> {
  outputs: O;
  manifestKey: ManifestKey<O>;
  cached: boolean;
  /** The manifest's recorded wall seconds (see WithManifest). */
  seconds?: number;
}

/**
 * A unit's folder: `stages/<stage>/<unit>/<hash of its code version, inputs and identity>`, shared by
 * every experiment, so changing `generate.*` reuses f_B, the loss table, the selection and the captions.
 */
export function stageDir(unit: StageUnit): string {
  const key = { stage: unit.stage, version: unit.version, unit: unit.unit, inputs: unit.inputs, ...(unit.identity === undefined ? {} : { identity: unit.identity }) };
  return `stages/${unit.stage}/${unit.unit}/${hashOf(key)}`;
}

export class StageCancelledError extends Error {
  override readonly name = 'StageCancelledError';
}

/**
 * Runs one unit of a stage with the content-hash cache: a complete manifest for the same inputs is
 * reused as is; otherwise `work` writes its files and the manifest is written last.
 */
export async function runStageUnit<O>(
  store: ArtifactStore,
  unit: StageUnit,
  hooks: StageHooks,
  work: (ctx: StageContext) => Promise<O>,
): Promise<StageResult<O>> {
  const dir = stageDir(unit);
  const manifestKey = unitManifestKey<O>(dir);
  const log = hooks.log ?? (() => {});
  const existing = await readManifest(store, manifestKey);
  if (existing) {
    const problems = await checkManifest(store, existing);
    if (problems.length === 0) {
      log(`${unit.stage}/${unit.unit}: reusing ${manifestKey}`);
      await pointTo(store, unit, { manifestKey, reused: true });
      return { outputs: existing.outputs, manifestKey, cached: true, seconds: existing.seconds };
    }
    log(`${unit.stage}/${unit.unit}: stored output incomplete (${problems[0]}); recomputing`);
  }

  const started = performance.now();
  const signal = hooks.signal ?? new AbortController().signal;
  const files = new Map<string, ManifestFile>();
  const ctx: StageContext = {
    store,
    dir,
    async put(name, body, contentType) {
      const key = `${dir}/${name}`;
      await store.put(key, body, contentType);
      files.set(key, describeFile(key, body));
      return key;
    },
    async putJson(name, value) {
      return ctx.put(name, `${JSON.stringify(value)}\n`, 'application/json');
    },
    async putArtifact(kind, value) {
      return artifactKey(kind, await ctx.put(kind.name, kind.encode(value, store.uri(`${dir}/${kind.name}`)), kind.contentType));
    },
    async putScratch(name, body) {
      const key = `${dir}/${name}`;
      await store.put(key, body);
      return key;
    },
    progress: hooks.progress,
    resume: hooks.resume,
    signal,
    log,
  };
  const outputs = await work(ctx);
  // A cancelled unit must not publish: whatever it wrote stays unlisted.
  if (signal.aborted) throw new StageCancelledError(`${unit.stage}/${unit.unit} cancelled before its manifest was written`);
  const manifest: Manifest<O> = {
    version: 1,
    experimentId: unit.experimentId,
    stage: unit.stage,
    stageVersion: unit.version,
    unit: unit.unit,
    inputsHash: dir.slice(dir.lastIndexOf('/') + 1),
    inputs: unit.inputs,
    ...(unit.identity === undefined ? {} : { identity: unit.identity }),
    files: [...files.values()].sort((a, b) => a.key.localeCompare(b.key)),
    outputs,
    completedAt: new Date().toISOString(),
    seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
  };
  await store.putJson(manifestKey, manifest);
  await pointTo(store, unit, { manifestKey, reused: false });
  return { outputs, manifestKey, cached: false, seconds: manifest.seconds };
}

async function pointTo(store: ArtifactStore, unit: StageUnit, pointer: UnitPointer): Promise<void> {
  await store.putJson(unitPointerKey(unit.experimentId, unit.stage, unit.unit), pointer);
}
