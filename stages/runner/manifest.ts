import { sha256Hex } from '../config/canonical-hash';
import type { ArtifactStore } from '../../core/store';

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

export const MANIFEST_NAME = 'manifest.json';

export function describeFile(key: string, body: Uint8Array | string): ManifestFile {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return { key, size: bytes.byteLength, sha256: sha256Hex(bytes) };
}

/** Problems with a manifest's files (missing or of the wrong size); empty = complete. */
export async function checkManifest(store: ArtifactStore, manifest: Manifest): Promise<string[]> {
  const problems: string[] = [];
  for (const file of manifest.files) {
    const size = await store.size(file.key);
    if (size === null) problems.push(`${file.key}: listed in the manifest but missing`);
    else if (size !== file.size) problems.push(`${file.key}: ${size} bytes, manifest says ${file.size}`);
  }
  return problems;
}
