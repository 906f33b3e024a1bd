import { readManifest } from './runner/manifest';
import type { GeneratedManifestKey } from './contracts';
import type { ArtifactStore } from '../core/store';
import { BadInputError } from '../core/errors';

/**
 * The file a generateBatch unit writes beside its images, one row per image, and the one way to
 * read it back from the unit's manifest: f_D's training set, the report and the test doubles all
 * use these, so the name and the row shape live here only.
 */
export const GENERATED_ROWS_FILE = 'rows.json';

export interface GeneratedRow {
  /** Store key of the PNG. */
  key: string;
  label: number;
  prompt: string;
  seed: number;
  /** The training image the caption describes. */
  source: string;
}

/** The rows of the images one generateBatch manifest lists, or a clear error naming what is missing. */
export async function readGeneratedRows(store: ArtifactStore, manifestKey: GeneratedManifestKey): Promise<GeneratedRow[]> {
  const manifest = await readManifest(store, manifestKey);
  if (!manifest) throw new BadInputError(store.uri(manifestKey), 'generated-image manifest missing');
  const file = manifest.files.find((f) => f.key.endsWith(`/${GENERATED_ROWS_FILE}`));
  if (!file) throw new BadInputError(store.uri(manifestKey), `lists no ${GENERATED_ROWS_FILE}`);
  const rows = await store.getJson<GeneratedRow[]>(file.key);
  if (!rows) throw new BadInputError(store.uri(file.key), 'listed in its manifest but missing');
  return rows;
}
