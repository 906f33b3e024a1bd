import { sha256Hex } from '../config/canonical-hash';
import type { ArtifactStore } from '../../core/store';
import { BadInputError } from '../../core/errors';
import type { ArtifactKey } from '../artifacts';

export interface ManifestFile {
  key: string;
  size: number;
  sha256: string;
}

/**
 * Written last, after every file of a stage: readers trust only manifests, so a crash or a
 * cancellation mid-stage leaves files nobody reads rather than a half-visible output.
 */
export interface Manifest<O = unknown> {
  version: 1;
  /** The experiment whose attempt computed it (others may reuse it). */
  experimentId: string;
  stage: string;
  /** The stage's code version the unit was computed by; absent in manifests written before versions were. */
  stageVersion?: number;
  unit: string;
  inputsHash: string;
  inputs: unknown;
  /** Content identity of what the inputs name by path (bundle files, dataset listing), when the stage has one. */
  identity?: unknown;
  files: ManifestFile[];
  outputs: O;
  completedAt: string;
  /** Wall seconds of the attempt that wrote it (a resumed attempt counts from its own start); absent in older manifests. */
  seconds?: number;
}

const MANIFEST_NAME = 'manifest.json';
/** A unit's manifest, carrying the type of the stage's outputs it records. */
export type ManifestKey<O> = ArtifactKey<Manifest<O>>;

/** The manifest of the unit whose folder is `dir`: the one place that spells where it lives. */
export function unitManifestKey<O>(dir: string): ManifestKey<O> {
  return `${dir}/${MANIFEST_NAME}` as ManifestKey<O>;
}

/** The folder of the unit that wrote `fileKey`, a file directly in it (model.bin, kept.json; not generateBatch's images/). */
export function unitDirOf(fileKey: string): string {
  return fileKey.slice(0, fileKey.lastIndexOf('/'));
}

/** The manifest of the unit that wrote `fileKey`, a file directly in the unit's folder. */
export function manifestKeyOf<O>(fileKey: string): ManifestKey<O> {
  return unitManifestKey<O>(unitDirOf(fileKey));
}

/** A unit's manifest, or null where none is stored (the unit never completed). */
export function readManifest<O>(store: ArtifactStore, key: ManifestKey<O>): Promise<Manifest<O> | null> {
  return store.getJson<Manifest<O>>(key);
}

export function describeFile(key: string, body: Uint8Array | string): ManifestFile {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return { key, size: bytes.byteLength, sha256: sha256Hex(bytes) };
}

/**
 * Problems with a manifest's files (missing, of the wrong size, or with bytes that do not match
 * their sha256); empty = complete. Reads every file: a unit is reused only when what is stored is
 * exactly what was written, so an object altered in place (same size) is recomputed, not used.
 */
export async function checkManifest(store: ArtifactStore, manifest: Manifest): Promise<string[]> {
  const problems: string[] = [];
  for (const file of manifest.files) {
    const bytes = await store.get(file.key);
    if (bytes === null) problems.push(`${file.key}: listed in the manifest but missing`);
    else if (bytes.byteLength !== file.size) problems.push(`${file.key}: ${bytes.byteLength} bytes, manifest says ${file.size}`);
    else if (sha256Hex(bytes) !== file.sha256) problems.push(`${file.key}: its bytes do not match the manifest's sha256`);
  }
  return problems;
}

/**
 * The bytes of a file a unit's manifest lists (a model, say), checked against the sha256 recorded
 * there. An altered file is never used: the read fails naming it, and the manifest no longer
 * passes checkManifest, so the unit is recomputed by the next run that needs it.
 */
export async function readListedFile(store: ArtifactStore, key: string): Promise<Buffer> {
  const manifestKey = manifestKeyOf(key);
  const [bytes, manifest] = await Promise.all([store.get(key), readManifest(store, manifestKey)]);
  if (bytes === null) throw new BadInputError(store.uri(key), 'missing');
  const listed = manifest?.files.find((f) => f.key === key);
  if (!listed) throw new BadInputError(store.uri(key), `not listed in ${store.uri(manifestKey)}: not a completed stage's output`);
  if (bytes.byteLength !== listed.size || sha256Hex(bytes) !== listed.sha256) {
    throw new BadInputError(store.uri(key), `its bytes do not match the sha256 in ${store.uri(manifestKey)} (altered or damaged in the store); run again to recompute it`);
  }
  return bytes;
}
