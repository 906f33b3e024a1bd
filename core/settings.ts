import { z } from 'zod';
import type { S3Settings } from './store';
import { ConfigError } from './errors';
import { describeIssues } from './zod-issues';
import { isSafeKeyPrefix } from './object-key';

/** The embedded S3 server's default address (`diffubias dev` starts it there). */
export const EMBEDDED_S3_ENDPOINT = 'http://127.0.0.1:4568';
/** The embedded server accepts only these; they are used for it and nothing else. */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const envSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Any S3 endpoint; `aws` = AWS itself; unset = the embedded server. */
  DIFFUBIAS_S3_ENDPOINT: z.string().min(1).default(EMBEDDED_S3_ENDPOINT),
  DIFFUBIAS_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name').default('diffubias'),
  DIFFUBIAS_S3_PREFIX: z.string().refine(isSafeKeyPrefix, 'not a safe key prefix (no empty, "." or ".." parts, no leading "/" or backslash)').default(''),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Local state of the dev stack: Temporal's SQLite file, the embedded S3's objects, caches. */
  DIFFUBIAS_HOME: z.string().min(1).default('.diffubias'),
});

export interface Settings {
  temporal: { address: string; namespace: string };
  s3: S3Settings;
  /** True when the artifacts go to the embedded server (so the dev stack should start it). */
  embeddedS3: boolean;
  home: string;
}

/**
 * Settings from the environment. Credentials for a real S3 come from the standard AWS chain
 * (env, profile, instance role) and are never read or logged here.
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error), 'the environment');
  const e = parsed.data;
  const embeddedS3 = e.DIFFUBIAS_S3_ENDPOINT === EMBEDDED_S3_ENDPOINT;
  return {
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE },
    s3: {
      endpoint: e.DIFFUBIAS_S3_ENDPOINT === 'aws' ? undefined : e.DIFFUBIAS_S3_ENDPOINT,
      region: e.AWS_REGION,
      bucket: e.DIFFUBIAS_S3_BUCKET,
      prefix: e.DIFFUBIAS_S3_PREFIX,
      credentials: embeddedS3 ? EMBEDDED_S3_CREDENTIALS : undefined,
    },
    embeddedS3,
    home: e.DIFFUBIAS_HOME,
  };
}
