import type { ArtifactStore } from '../core/store';
import type { ArtifactKey, ArtifactKind } from './artifacts';

/** Progress an engine reports while it works; the activity layer turns it into heartbeats. */
/**
 * What a running stage activity tells its workflow for the Web UI (one per epoch, not per step),
 * by the signal of this name: defined here, below both, so activities need not import workflows.
 */
export interface UnitProgress {
  stage: string;
  unit: string;
  epoch?: number;
  epochs?: number;
  validAccuracy?: number;
}
export const UNIT_PROGRESS_SIGNAL = 'unitProgress';

export interface StageProgress {
  epoch?: number;
  /** Epochs planned, and the validation accuracy of the epoch just ended: for live views. */
  epochs?: number;
  validAccuracy?: number;
  step?: number;
  done?: number;
  total?: number;
  /** Where a retried attempt can resume from. */
  checkpointKey?: string;
  /** The checkpoint's sha256: a retried attempt resumes only from bytes that match it. */
  checkpointSha256?: string;
}

/**
 * Everything an engine gets to do its stage: read any artifact, write its own outputs, report
 * progress, notice cancellation. No Temporal in here: engines run the same in a script or a test.
 */
export interface StageContext {
  readonly store: ArtifactStore;
  /** This unit's output folder (`stages/<stage>/<unit>/<inputsHash>`), shared by every experiment with the same inputs. */
  readonly dir: string;
  /** Writes `<dir>/<name>` and lists it in the manifest; returns its key. */
  put(name: string, body: Uint8Array | string, contentType?: string): Promise<string>;
  putJson(name: string, value: unknown): Promise<string>;
  /** Writes `<dir>/<kind.name>`, checked against its kind (a wrong shape fails here), and lists it; returns its handle. */
  putArtifact<T>(kind: ArtifactKind<T>, value: T): Promise<ArtifactKey<T>>;
  /** Writes a scratch file under `<dir>/` that the manifest does not list (checkpoints). */
  putScratch(name: string, body: Uint8Array | string): Promise<string>;
  progress(progress: StageProgress): void;
  /** The last progress a previous attempt of this unit reported, if any. */
  readonly resume: StageProgress | undefined;
  readonly signal: AbortSignal;
  log(message: string): void;
}

export type StageEngine<I, O> = (input: I, ctx: StageContext) => Promise<O>;
