/**
 * What the embedded S3 server (s3rver) does not do itself: it answers unsigned requests, accepts any
 * SigV4 signature, and stores a key with `..` segments outside its folder. This guard runs before
 * it and refuses (the request goes no further, nothing is written):
 * - a key with an empty, `.` or `..` segment (400 InvalidArgument);
 * - a request that is not SigV4-signed with the stack's own credentials (403 AccessDenied), checked
 *   by signing it again with the AWS SDK's signer (@smithy/signature-v4) and comparing.
 */
import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A request the guard refuses: the S3 error code and status it answers with. */
export interface Refusal {
  status: 400 | 403;
  code: 'InvalidArgument' | 'AccessDenied' | 'SignatureDoesNotMatch' | 'RequestTimeTooSkewed';
  message: string;
}

/** The signer's hash: SHA-256 (an HMAC with a secret) from node:crypto. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytesOf = (data: SourceData): string | Uint8Array =>
  typeof data === 'string' ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

class Sha256 {
  private hash: Hash | Hmac;
  private readonly secret?: string | Uint8Array;
  constructor(secret?: SourceData) {
    this.secret = secret === undefined ? undefined : bytesOf(secret);
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: SourceData): void {
    this.hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
/** How far a request's signing time may be from now (S3's own limit). */
const MAX_SKEW_MS = 15 * 60 * 1000;

/** The path's segments after the leading `/`, raw (before percent-decoding) and decoded. */
function unsafeSegment(rawPath: string): string | undefined {
  const segments = rawPath.replace(/^\//, '').split('/');
  // `/bucket/` and `/` list a bucket or the buckets: their trailing slash is not an empty key segment.
  const key = segments.slice(1);
  if (key.length === 1 && key[0] === '') return undefined;
  for (const raw of key) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return raw;
    }
    if (segment === '' || segment === '.' || segment === '..' || segment.includes('/') || segment.includes('\\')) return segment;
  }
  return undefined;
}

/** Why `req` must not reach the store, or undefined when it may. */
export async function refusal(req: IncomingMessage, credentials: S3Credentials, now = Date.now()): Promise<Refusal | undefined> {
  const url = req.url ?? '/';
  const cut = url.indexOf('?');
  const rawPath = cut < 0 ? url : url.slice(0, cut);
  const bad = unsafeSegment(rawPath);
  if (bad !== undefined) return { status: 400, code: 'InvalidArgument', message: `object keys may not hold an empty, "." or ".." segment (got ${JSON.stringify(bad)})` };

  const auth = req.headers.authorization;
  if (!auth) return { status: 403, code: 'AccessDenied', message: 'unsigned requests are refused: sign with the credentials the dev stack keeps under its home' };
  const m = AUTHORIZATION.exec(auth);
  if (!m) return { status: 403, code: 'AccessDenied', message: 'only AWS Signature Version 4 (AWS4-HMAC-SHA256) in the Authorization header is accepted' };
  const [, keyId, , region, service, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (keyId !== credentials.accessKeyId) return { status: 403, code: 'AccessDenied', message: 'unknown access key' };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!date) return { status: 403, code: 'AccessDenied', message: 'x-amz-date missing or malformed' };
  const signingDate = new Date(Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!));
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) return { status: 403, code: 'RequestTimeTooSkewed', message: 'the request time is too far from the server time' };

  const names = signedHeaders.split(';');
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = req.headers[name];
    headers[name] = Array.isArray(value) ? value.join(',') : String(value ?? '');
  }
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(cut < 0 ? '' : url.slice(cut + 1))) query[k] = v;
  // S3 signs the path as sent (already escaped once) and the payload by its x-amz-content-sha256 header.
  const signer = new SignatureV4({ credentials, region, service, sha256: Sha256, uriEscapePath: false, applyChecksum: true });
  const signed = await signer.sign(
    { method: req.method ?? 'GET', protocol: 'http:', hostname: headers.host ?? '', path: rawPath, query, headers },
    { signingDate, signableHeaders: new Set(names) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? ''))?.[1] ?? '';
  if (expected.length !== signature.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    return { status: 403, code: 'SignatureDoesNotMatch', message: 'the request signature does not match the one computed with the server\'s credentials' };
  }
  return undefined;
}

/** The S3 error body the SDKs parse. */
export function refusalXml(r: Refusal): string {
  const esc = (s: string) => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${r.code}</Code><Message>${esc(r.message)}</Message></Error>`;
}
