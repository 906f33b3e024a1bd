/**
 * transformers.js, loaded once with hub access off, and the parts of its 4.3 generation internals
 * the captioner drives a model with, typed: PreTrainedModel's _prepare_generation_config,
 * _prepare_model_inputs, _prepare_encoder_decoder_kwargs_for_generation,
 * _prepare_decoder_input_ids_for_generation, _get_logits_processor and
 * _update_model_kwargs_for_generation (underscored: private, free to change in any release).
 * package.json pins @huggingface/transformers exactly for that reason; an upgrade is deliberate,
 * with test/unit/captioner.test.ts (token-for-token parity with Python transformers) as its guard.
 */
import type { Tensor } from '@huggingface/transformers';

export type Transformers = typeof import('@huggingface/transformers');

let transformersModule: Transformers | undefined;

/** transformers.js, loaded on first use (it loads onnxruntime-node) with hub access switched off. */
export function transformers(): Transformers {
  if (!transformersModule) {
    const t = require('@huggingface/transformers') as Transformers;
    t.env.allowRemoteModels = false;
    t.env.allowLocalModels = true;
    transformersModule = t;
  }
  return transformersModule;
}

export type ModelInputs = Record<string, unknown>;

export interface GenerationSettings {
  max_length: number;
  max_new_tokens: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
  bos_token_id: number | null;
  decoder_start_token_id: number | number[] | null;
  num_beams: number;
  length_penalty: number;
  early_stopping: boolean | 'never';
  temperature: number;
  top_k: number;
  top_p: number;
}

export interface KeyValueCache {
  update(entries: Record<string, Tensor>): void;
  dispose?(): Promise<void>;
}

/** The parts of a transformers.js PreTrainedModel that `generate` itself uses. */
export interface GenerativeModel {
  config: { model_type: string; is_encoder_decoder?: boolean };
  _prepare_generation_config(generation_config: null, kwargs: Record<string, unknown>): GenerationSettings;
  _get_logits_processor(config: GenerationSettings, inputLength: number, extra: null): (ids: bigint[][], logits: Tensor) => Tensor;
  _prepare_model_inputs(args: { inputs: null; model_kwargs: ModelInputs }): { inputs_tensor: Tensor; model_inputs: ModelInputs; model_input_name: string };
  _prepare_encoder_decoder_kwargs_for_generation(args: {
    inputs_tensor: Tensor; model_inputs: ModelInputs; model_input_name: string; generation_config: GenerationSettings;
  }): Promise<ModelInputs>;
  _prepare_decoder_input_ids_for_generation(args: {
    batch_size: number; model_input_name: string; model_kwargs: ModelInputs;
    decoder_start_token_id: number | number[] | null; bos_token_id: number | null; generation_config: GenerationSettings;
  }): { input_ids: Tensor; model_inputs: ModelInputs };
  prepare_inputs_for_generation(ids: bigint[][], inputs: ModelInputs, config: GenerationSettings): ModelInputs;
  forward(inputs: ModelInputs): Promise<Record<string, Tensor>>;
  _update_model_kwargs_for_generation(args: {
    generated_input_ids: bigint[][]; outputs: Record<string, Tensor>; model_inputs: ModelInputs; is_encoder_decoder: boolean;
  }): ModelInputs;
  dispose(): Promise<unknown>;
}

/** onnxruntime's InferenceSession (transformers.js keeps one per ONNX file), as far as the captioner runs one itself. */
export interface OnnxSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
}

/**
 * The image side of a transformers.js image-text-to-text model (LLaVA's): its sessions by file
 * name, encode_image (which its forward calls on the first step with the pixel inputs and
 * returns the features that replace the image tokens), and forward_params (the inputs
 * _prepare_model_inputs keeps).
 */
export interface ImageEncodingModel {
  sessions: Record<string, OnnxSession | undefined>;
  encode_image(inputs: ModelInputs): Promise<Tensor>;
  forward_params: string[];
}

export type ProcessorCall = (...args: unknown[]) => Promise<ModelInputs>;
export interface ProcessorLike {
  construct_prompts?(text: string | string[]): string[];
  apply_chat_template?(messages: unknown[], options?: Record<string, unknown>): string;
}

export function isTensor(value: unknown): value is Tensor {
  return value instanceof transformers().Tensor;
}

/** Rows `index[i]` of a tensor's first dimension, as a new tensor. */
export function selectRows(t: Tensor, index: readonly number[]): Tensor {
  const [rows, ...rest] = t.dims;
  const size = rest.reduce((a, b) => a * b, 1);
  const data = t.data as unknown as { length: number; subarray(a: number, b: number): ArrayLike<unknown>; constructor: new (n: number) => { set(src: ArrayLike<unknown>, at: number): void } };
  if (rows === undefined || data.length !== rows * size) throw new Error(`cannot select rows of a tensor of shape [${t.dims.join(', ')}]`);
  const out = new data.constructor(index.length * size);
  index.forEach((row, i) => out.set(data.subarray(row * size, (row + 1) * size), i * size));
  return new (transformers().Tensor)(t.type, out as never, [index.length, ...rest]);
}

/** Repeats every row `times` times (row r → rows r*times .. r*times+times-1) in every batch-shaped tensor. */
export function expandRows(inputs: ModelInputs, batch: number, times: number): ModelInputs {
  if (times === 1) return inputs;
  const index = Array.from({ length: batch * times }, (_, i) => Math.floor(i / times));
  const out: ModelInputs = {};
  for (const [name, value] of Object.entries(inputs)) {
    out[name] = isTensor(value) && value.dims[0] === batch ? selectRows(value, index) : value;
  }
  return out;
}

/** After a beam step: the key/value cache and attention masks follow their beams. */
export function reorderRows(inputs: ModelInputs, index: readonly number[]): void {
  const cache = inputs.past_key_values as (KeyValueCache & Record<string, unknown>) | null | undefined;
  if (cache) {
    const entries: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(cache)) {
      if (isTensor(value) && value.dims[0] === index.length) entries[name] = selectRows(value, index);
    }
    cache.update(entries);
  }
  for (const name of ['attention_mask', 'decoder_attention_mask']) {
    const value = inputs[name];
    if (isTensor(value) && value.dims[0] === index.length) inputs[name] = selectRows(value, index);
  }
}

export function idsOf(value: number | number[] | null | undefined): number[] {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
