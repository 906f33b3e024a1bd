import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { PROJECT_ROOT } from './project-root';
import { parseS3Uri } from './s3-uri';
import type { S3Settings } from './store';

/**
 * Where a local location points: an absolute path as is; a relative one against the working
 * directory when it exists there, else against the project root (where the demo bundles live,
 * `models/demo/...`), else the working directory's (so errors name what the user typed).
 */
export function resolveLocalPath(location: string, cwd = process.cwd()): string {
  if (isAbsolute(location)) return location;
  const fromCwd = resolve(cwd, location);
  if (existsSync(fromCwd)) return fromCwd;
  const fromRoot = resolve(PROJECT_ROOT, location);
  return existsSync(fromRoot) ? fromRoot : fromCwd;
}

/** The identity of a location across processes: its absolute path, or the S3 endpoint with the URI. */
export function locationKey(location: string, s3?: S3Settings): string {
  return parseS3Uri(location) ? `${s3?.endpoint ?? 'aws'} ${location.replace(/\/+$/, '')}` : resolveLocalPath(location);
}
