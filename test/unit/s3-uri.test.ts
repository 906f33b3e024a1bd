import { describe, expect, it } from 'vitest';
import { parseS3Uri } from '../../core/s3-uri';

describe('parseS3Uri (every s3:// location: datasets, bundles, dataset builds)', () => {
  it('splits bucket and prefix', () => {
    expect(parseS3Uri('s3://data/cmnist/1pct')).toEqual({ bucket: 'data', prefix: 'cmnist/1pct' });
    expect(parseS3Uri('s3://models/demo/generator/')).toEqual({ bucket: 'models', prefix: 'demo/generator/' });
    expect(parseS3Uri('s3://data')).toEqual({ bucket: 'data', prefix: '' });
    expect(parseS3Uri('s3://data/')).toEqual({ bucket: 'data', prefix: '' });
  });

  it('leaves local paths alone', () => {
    for (const path of ['/data/cmnist', 'models/demo/captioner', './s3://x', 'S3data']) expect(parseS3Uri(path)).toBeUndefined();
  });

  it('refuses an s3:// URI without a bucket, naming the field', () => {
    expect(() => parseS3Uri('s3://', 'datasetRoot')).toThrow('datasetRoot: s3:// is not an s3://bucket/prefix URI');
    expect(() => parseS3Uri('s3:///cmnist')).toThrow(/s3:\/\/\/cmnist is not an s3:\/\/bucket\/prefix URI/);
  });
});
