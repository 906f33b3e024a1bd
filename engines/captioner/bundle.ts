/** Captioner bundles: a local folder, or an s3:// prefix the bundle store syncs; the files checked before loading. */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BundleKind, LocalBundle } from '../../core/bundle-store';
import { BadInputError } from '../../core/errors';

export type CaptionDtype = 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';

/** How the bundle store names a captioner bundle (and what of it an S3 sync copies: all). */
export const CAPTIONER_BUNDLE: BundleKind = { what: 'captioner bundle' };

const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json'];

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

const DTYPE_SUFFIX: Record<CaptionDtype, string> = {
  fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4',
};

/** Checks the files every family needs, and the ONNX files of a vision-encoder-decoder. */
export async function checkBundle(bundle: LocalBundle, modelType: string | undefined, dtype: CaptionDtype): Promise<void> {
  const names = [...REQUIRED_FILES];
  if (modelType === 'vision-encoder-decoder') {
    for (const name of ['encoder_model', 'decoder_model_merged']) names.push(`onnx/${name}${DTYPE_SUFFIX[dtype]}.onnx`);
  }
  for (const name of names) {
    if (!(await exists(join(bundle.root, name)))) throw new BadInputError(bundle.describe(name), 'missing captioner bundle file');
  }
}

/** A JSON file of the bundle; a missing or unparsable one is bad input, named. */
export async function readBundleJson<T>(bundle: LocalBundle, name: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(join(bundle.root, name), 'utf8');
  } catch {
    throw new BadInputError(bundle.describe(name), 'missing captioner bundle file');
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new BadInputError(bundle.describe(name), `not valid JSON (${(err as Error).message})`);
  }
}

export function readConfig(bundle: LocalBundle): Promise<{ model_type?: string }> {
  return readBundleJson<{ model_type?: string }>(bundle, 'config.json');
}

/** transformers.js reports a missing file as `... not found locally at "<path>"`: name that file. */
export function asBadInput(err: unknown): unknown {
  const message = (err as Error)?.message ?? '';
  const missing = /(?:not found locally at|Local file missing at) "([^"]+)"/.exec(message);
  if (missing) return new BadInputError(missing[1]!, 'missing captioner bundle file');
  return err;
}
