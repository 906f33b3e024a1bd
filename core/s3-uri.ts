import { BadInputError } from './errors';

export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, without a leading slash; '' for the whole bucket. */
  prefix: string;
}

/**
 * The bucket and key prefix of an `s3://bucket/prefix` URI, or undefined when `uri` is not one (a
 * local path). `s3://` without a bucket is refused, naming `where`, rather than read as a folder.
 */
export function parseS3Uri(uri: string, where: string = uri): S3Location | undefined {
  if (!uri.startsWith('s3://')) return undefined;
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new BadInputError(where, `${uri} is not an s3://bucket/prefix URI`);
  return { bucket: match[1]!, prefix: match[2]! };
}
