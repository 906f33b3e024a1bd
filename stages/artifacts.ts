import type { z } from 'zod';
import { BadInputError } from '../core/errors';
import type { ArtifactStore } from '../core/store';
import { describeIssues } from '../core/zod-issues';

/**
 * The key of a stored file, carrying the type of what it holds: what a stage's output hands to the
 * stages, the report and the CLI that read it. A plain string at run time (and in recorded
 * histories), so handles and the keys of older runs are the same thing.
 */
export type ArtifactKey<T> = string & { readonly [holds]: T };
/** Exists only as a type: a plain string is not a handle, so a key reaches a reader only from putArtifact (or a stored result). */
declare const holds: unique symbol;

/**
 * One kind of file a stage writes: its name in the unit's folder, and how a value becomes its bytes
 * and back. The stage that writes it owns it; every reader goes through it.
 */
export interface ArtifactKind<T> {
  readonly name: string;
  readonly contentType: string;
  encode(value: T, where: string): string | Uint8Array;
  decode(bytes: Buffer, where: string): T;
}

/**
 * A JSON file checked against its schema both ways: a writer (a stage, or a test double) that
 * produces another shape fails at once, naming the file and the field, instead of a later stage
 * failing on it; a reader gets a T or an error naming the object. `upgrade` reads what older runs
 * stored into today's shape before the check.
 */
export function jsonArtifact<T>(name: string, schema: z.ZodType<T>, upgrade: (stored: unknown) => unknown = (v) => v): ArtifactKind<T> {
  const check = (value: unknown, where: string): T => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new BadInputError(where, `not a valid ${name}: ${describeIssues(parsed.error).join('; ')}`);
    return parsed.data;
  };
  return {
    name,
    contentType: 'application/json',
    encode(value, where) {
      check(value, where);
      // The value as given, not the parsed copy: the schema's key order must not change stored bytes.
      return `${JSON.stringify(value)}\n`;
    },
    decode(bytes, where) {
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new BadInputError(where, `not a valid ${name}: not JSON`);
      }
      return check(upgrade(json), where);
    },
  };
}

/**
 * The handle of a key that did not come from putArtifact: a stored result's, a file a user or a
 * test put there. Reading it still checks what it holds.
 */
export function artifactKey<T>(_kind: ArtifactKind<T>, key: string): ArtifactKey<T> {
  return key as ArtifactKey<T>;
}

/** Reads a stored artifact; a missing or malformed one is bad input naming its URI. */
export async function readArtifact<T>(store: ArtifactStore, kind: ArtifactKind<T>, key: ArtifactKey<T>): Promise<T> {
  const bytes = await store.get(key);
  if (bytes === null) throw new BadInputError(store.uri(key), `${kind.name} missing`);
  return kind.decode(bytes, store.uri(key));
}
