/**
 * Text-to-image model bundles in HF Optimum's ONNX Stable Diffusion layout (docs/text-to-image.md),
 * from a local folder or an `s3://bucket/prefix` (core/bundle-store.ts syncs it into the
 * bundle cache), verified before any session opens. Every missing or malformed file fails with a
 * BadInputError naming that file where the user put it (the folder path or the s3:// key).
 */
import { existsSync, statSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveBundle, type BundleKind, type BundleStoreOptions, type LocalBundle } from '../../core/bundle-store';
import { BadInputError } from '../../core/errors';

/** Folders an S3 sync skips: the text-to-image engine never runs them. */
const SKIPPED_PARTS = ['vae_encoder/', 'safety_checker/', 'feature_extractor/', 'image_encoder/'];
/** How the bundle store names a text-to-image bundle, and the parts an S3 sync leaves out. */
export const MODEL_BUNDLE: BundleKind = { what: 'model bundle', skip: (key: string) => SKIPPED_PARTS.some((p) => key.startsWith(p)) };

/** The default VAE scaling factor (SD 1.x/2.x) when no config names one. */
export const DEFAULT_SCALING_FACTOR = 0.18215;

export type JsonObject = Record<string, unknown>;

export interface TokenizerFiles {
  dir: string;
  /** tokenizer.json (a fast tokenizer), when the export has one. */
  tokenizerJson?: string;
  /** vocab.json + merges.txt (CLIPTokenizer, what optimum exports for SD). */
  vocab?: string;
  merges?: string;
  /** tokenizer_config.json, parsed; {} when absent. */
  config: JsonObject;
}

/** A rectangle of the generated image, in pixels. */
export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** `diffubias.json`'s `crop`: four non-negative integers, width and height positive. */
function parseCrop(value: unknown, where: string): CropBox | undefined {
  if (value === undefined) return undefined;
  const box = value as Partial<Record<keyof CropBox, unknown>>;
  const fields = ['left', 'top', 'width', 'height'] as const;
  const bad = typeof value !== 'object' || value === null
    || fields.some((f) => !Number.isInteger(box[f]) || (box[f] as number) < (f === 'width' || f === 'height' ? 1 : 0));
  if (bad) throw new BadInputError(where, `crop: expected {left, top, width, height} in whole pixels, got ${JSON.stringify(value)}`);
  return { left: box.left as number, top: box.top as number, width: box.width as number, height: box.height as number };
}

/** A verified local bundle. */
export interface SdBundle extends LocalBundle {
  modelIndex: JsonObject;
  schedulerConfig: JsonObject;
  tokenizer: TokenizerFiles;
  textEncoder: string;
  /**
   * SDXL's second text encoder (CLIPTextModelWithProjection: its penultimate hidden states join the
   * first's, its projected pooled output conditions the unet) and its tokenizer; absent for SD 1.x / 2.x.
   */
  second?: { tokenizer: TokenizerFiles; textEncoder: string };
  /** model_index.json `force_zeros_for_empty_prompt` (SDXL): no negative prompt = zero embeddings, not those of "". */
  forceZerosForEmptyPrompt: boolean;
  unet: string;
  vaeDecoder: string;
  /** unet/config.json, {} when absent. */
  unetConfig: JsonObject;
  /** vae_decoder/config.json (or vae/config.json), {} when absent. */
  vaeConfig: JsonObject;
  vaeScalingFactor: number;
  vaeShiftFactor: number;
  /** 2^(len(vae block_out_channels) - 1), 8 by default. */
  vaeScaleFactor: number;
  /** From the optional `diffubias.json`: the part of each generated image that is content (e.g. a padded training set's). */
  outputCrop?: CropBox;
}

/** Opens and verifies a bundle: a folder, or an s3:// prefix synced into the bundle cache first. */
export async function openBundle(location: string, options: BundleStoreOptions = {}): Promise<SdBundle> {
  return verifyBundle(await resolveBundle(location, MODEL_BUNDLE, options));
}

// ------------------------------------------------------------------------------------------- verify
async function readJsonFile(path: string, where: string, required: true): Promise<JsonObject>;
async function readJsonFile(path: string, where: string, required: false): Promise<JsonObject | undefined>;
async function readJsonFile(path: string, where: string, required: boolean): Promise<JsonObject | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BadInputError(where, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing from the model bundle' : `cannot read (${(err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(where, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadInputError(where, 'expected a JSON object');
  return value as JsonObject;
}

async function checkOnnx(path: string, where: string): Promise<void> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new BadInputError(where, 'not a file');
    size = s.size;
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(where, 'missing from the model bundle');
  }
  if (size < 16) throw new BadInputError(where, `not an ONNX model (${size} bytes)`);
  // A serialized ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
  const head = Buffer.alloc(1);
  const handle = await open(path, 'r');
  try {
    await handle.read(head, 0, 1, 0);
  } finally {
    await handle.close();
  }
  if (head[0] !== 0x08) throw new BadInputError(where, 'not an ONNX model (does not start with an ir_version field)');
}

function fileExists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The model's ONNX files: each present, a model file, and its external weights (models over 2 GB) non-empty where present. */
async function checkParts({ root, describe }: LocalBundle, parts: readonly string[]): Promise<void> {
  for (const part of parts) {
    await checkOnnx(join(root, part, 'model.onnx'), describe(`${part}/model.onnx`));
    const data = join(root, part, 'model.onnx_data');
    if (existsSync(data) && statSync(data).size === 0) throw new BadInputError(describe(`${part}/model.onnx_data`), 'empty external weights file');
  }
}

/** A CLIP tokenizer folder: tokenizer.json, or vocab.json + merges.txt; tokenizer_config.json if any. */
async function verifyTokenizer({ root, describe }: LocalBundle, folder: string): Promise<TokenizerFiles> {
  const tokDir = join(root, folder);
  const tokenizerConfig = (await readJsonFile(join(tokDir, 'tokenizer_config.json'), describe(`${folder}/tokenizer_config.json`), false)) ?? {};
  const tokenizer: TokenizerFiles = { dir: tokDir, config: tokenizerConfig };
  if (fileExists(join(tokDir, 'tokenizer.json'))) {
    await readJsonFile(join(tokDir, 'tokenizer.json'), describe(`${folder}/tokenizer.json`), true);
    tokenizer.tokenizerJson = join(tokDir, 'tokenizer.json');
  } else {
    if (!fileExists(join(tokDir, 'vocab.json'))) throw new BadInputError(describe(`${folder}/vocab.json`), 'missing from the model bundle (the CLIP tokenizer needs vocab.json and merges.txt, or tokenizer.json)');
    if (!fileExists(join(tokDir, 'merges.txt'))) throw new BadInputError(describe(`${folder}/merges.txt`), 'missing from the model bundle (the CLIP tokenizer needs vocab.json and merges.txt, or tokenizer.json)');
    await readJsonFile(join(tokDir, 'vocab.json'), describe(`${folder}/vocab.json`), true);
    const merges = await readFile(join(tokDir, 'merges.txt'), 'utf8');
    const lines = merges.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#version'));
    if (lines.some((l) => l.trim().split(' ').length !== 2)) throw new BadInputError(describe(`${folder}/merges.txt`), 'malformed: every merge line must hold two tokens');
    tokenizer.vocab = join(tokDir, 'vocab.json');
    tokenizer.merges = join(tokDir, 'merges.txt');
  }
  return tokenizer;
}

async function verifyBundle(local: LocalBundle): Promise<SdBundle> {
  const { root, describe } = local;
  const modelIndex = await readJsonFile(join(root, 'model_index.json'), describe('model_index.json'), true);
  const schedulerConfig = await readJsonFile(join(root, 'scheduler/scheduler_config.json'), describe('scheduler/scheduler_config.json'), true);
  await checkParts(local, ['text_encoder', 'unet', 'vae_decoder']);

  const tokenizer = await verifyTokenizer(local, 'tokenizer');
  // SDXL: a second text encoder and tokenizer, both or neither.
  const secondParts = ['text_encoder_2', 'tokenizer_2'].filter((part) => modelIndex[part] !== undefined && modelIndex[part] !== null && !(Array.isArray(modelIndex[part]) && (modelIndex[part] as unknown[])[0] === null));
  let second: SdBundle['second'];
  if (secondParts.length > 0) {
    await checkParts(local, ['text_encoder_2']);
    second = { tokenizer: await verifyTokenizer(local, 'tokenizer_2'), textEncoder: join(root, 'text_encoder_2/model.onnx') };
  }

  const unetConfig = (await readJsonFile(join(root, 'unet/config.json'), describe('unet/config.json'), false)) ?? {};
  const vaeConfig = (await readJsonFile(join(root, 'vae_decoder/config.json'), describe('vae_decoder/config.json'), false))
    ?? (await readJsonFile(join(root, 'vae/config.json'), describe('vae/config.json'), false))
    ?? {};
  const vaeIndex = typeof modelIndex.vae_config === 'object' && modelIndex.vae_config !== null ? (modelIndex.vae_config as JsonObject) : {};
  const scaling = vaeConfig.scaling_factor ?? vaeIndex.scaling_factor ?? modelIndex.scaling_factor ?? DEFAULT_SCALING_FACTOR;
  if (typeof scaling !== 'number' || !(scaling > 0)) throw new BadInputError(describe('vae_decoder/config.json'), `scaling_factor: expected a positive number, got ${JSON.stringify(scaling)}`);
  const shift = vaeConfig.shift_factor ?? null;
  if (shift !== null && typeof shift !== 'number') throw new BadInputError(describe('vae_decoder/config.json'), `shift_factor: expected a number or null, got ${JSON.stringify(shift)}`);
  const blocks = Array.isArray(vaeConfig.block_out_channels) ? vaeConfig.block_out_channels.length : 4;
  const extras = (await readJsonFile(join(root, 'diffubias.json'), describe('diffubias.json'), false)) ?? {};
  const outputCrop = parseCrop(extras.crop, describe('diffubias.json'));

  return {
    ...local, modelIndex, schedulerConfig, tokenizer,
    textEncoder: join(root, 'text_encoder/model.onnx'),
    ...(second ? { second } : {}),
    forceZerosForEmptyPrompt: modelIndex.force_zeros_for_empty_prompt === true,
    unet: join(root, 'unet/model.onnx'),
    vaeDecoder: join(root, 'vae_decoder/model.onnx'),
    unetConfig, vaeConfig,
    vaeScalingFactor: scaling,
    vaeShiftFactor: shift ?? 0,
    vaeScaleFactor: 2 ** Math.max(0, blocks - 1),
    outputCrop,
  };
}
