import type { PreTrainedTokenizer, Tensor } from '@huggingface/transformers';
import { argmax, BeamGroup, logSoftmaxRows, sampleToken } from './search';
import { expandRows, idsOf, reorderRows, transformers, type GenerativeModel, type KeyValueCache, type ModelInputs } from './transformers-internals';
import type { CaptionRequest, CaptionStrategy, ImageCaptions } from './types';

/** A batch's request, its strategy and captions per image resolved. */
export type BatchRequest = CaptionRequest & { strategy: CaptionStrategy; perImage: number };

/**
 * Captions for a batch of `batch` images already turned into model inputs: the model run step by
 * step through transformers.js's internals, tokens chosen by ./search.ts (beam search as Python
 * transformers 4.57, seeded sampling, greedy), the key/value cache reordered between beam steps.
 */
export async function generateCaptions(
model: GenerativeModel, tokenizer: PreTrainedTokenizer, processed: ModelInputs, batch: number, request: BatchRequest, where: string,
): Promise<ImageCaptions[]> {
  const { strategy, perImage } = request;
  const isEncoderDecoder = Boolean(model.config.is_encoder_decoder);
  // The bundle's generation config (num_beams, max_length, eos...); do_sample off so that
  // transformers.js does not add its temperature warper: sampling applies its own warpers.
  const config = model._prepare_generation_config(null, { do_sample: false });
  const numBeams = strategy === 'beam' ? Math.max(perImage, request.numBeams ?? config.num_beams ?? 1) : 1;
  const rowsPerImage = strategy === 'beam' ? numBeams : strategy === 'sample' ? perImage : 1;
  const rows = batch * rowsPerImage;

  let modelInputs: ModelInputs;
  let promptIds: Tensor;
  if (isEncoderDecoder) {
    const prepared = model._prepare_model_inputs({ inputs: null, model_kwargs: processed });
    const encoded = await model._prepare_encoder_decoder_kwargs_for_generation({ ...prepared, generation_config: config });
    ({ input_ids: promptIds, model_inputs: modelInputs } = model._prepare_decoder_input_ids_for_generation({
      batch_size: rows, model_input_name: prepared.model_input_name, model_kwargs: expandRows(encoded, batch, rowsPerImage),
      decoder_start_token_id: config.decoder_start_token_id, bos_token_id: config.bos_token_id, generation_config: config,
    }));
  } else {
    const prepared = model._prepare_model_inputs({ inputs: null, model_kwargs: expandRows(processed, batch, rowsPerImage) });
    modelInputs = prepared.model_inputs;
    promptIds = modelInputs[prepared.model_input_name] as Tensor;
  }
  const promptLength = promptIds.dims.at(-1) ?? 1;
  const maxNew = request.maxNewTokens ?? config.max_new_tokens ?? Math.max(1, (config.max_length ?? 20) - promptLength);
  config.max_length = promptLength + maxNew;
  const processors = model._get_logits_processor(config, promptLength, null);
  const eosIds = idsOf(config.eos_token_id);
  const pad = config.pad_token_id ?? eosIds[0] ?? 0;

  let ids: number[][] = (promptIds.tolist() as (bigint | number)[][]).map((row) => row.map(Number));
  const scores = new Array<number>(rows).fill(0);
  const finished = new Array<boolean>(rows).fill(false);
  const beams = strategy === 'beam'
    ? Array.from({ length: batch }, (_, i) => new BeamGroup(ids[i * numBeams]!, {
      numBeams, eosIds, maxLength: config.max_length, promptLength,
      lengthPenalty: config.length_penalty ?? 1, earlyStopping: config.early_stopping ?? false,
    }))
    : [];
  const { Random } = transformers().random;
  const rngs = strategy === 'sample'
    ? Array.from({ length: rows }, (_, r) => new Random(rowSeed(request.seed ?? 0, r % rowsPerImage)))
    : [];
  const sampling = {
    temperature: request.temperature ?? config.temperature ?? 1,
    topK: request.topK ?? config.top_k ?? 50,
    topP: request.topP ?? config.top_p ?? 1,
  };

  const T = transformers().Tensor;
  try {
    for (let curLen = promptLength; curLen < config.max_length; curLen++) {
      request.signal?.throwIfAborted();
      const asBig = ids.map((row) => row.map((x) => BigInt(x)));
      modelInputs = model.prepare_inputs_for_generation(asBig, modelInputs, config);
      const outputs = await model.forward(modelInputs);
      const logitsTensor = outputs.logits;
      if (!logitsTensor) throw new Error(`${where}: the model returned no logits`);
      const last = logitsTensor.slice(null, -1, null).to('float32');
      const vocab = last.dims.at(-1)!;
      let tokens: number[];
      if (strategy === 'beam') {
        const logProbs = processors(asBig, new T('float32', logSoftmaxRows(last.data as Float32Array, rows, vocab), [rows, vocab])).data as Float32Array;
        tokens = new Array<number>(rows);
        const origin = new Array<number>(rows);
        beams.forEach((group, g) => {
          const step = group.step(logProbs, g * numBeams * vocab, vocab, curLen);
          step.tokens.forEach((token, k) => {
            tokens[g * numBeams + k] = token;
            origin[g * numBeams + k] = g * numBeams + step.origins[k]!;
          });
        });
        ids = origin.map((o, r) => [...ids[o]!, tokens[r]!]);
        modelInputs = model._update_model_kwargs_for_generation({
          generated_input_ids: tokens.map((x) => [BigInt(x)]), outputs, model_inputs: modelInputs, is_encoder_decoder: isEncoderDecoder,
        });
        reorderRows(modelInputs, origin);
        if (beams.every((group) => group.done)) break;
      } else {
        const logits = processors(asBig, last).data as Float32Array;
        tokens = ids.map((_, r) => {
          if (finished[r]) return pad;
          const token = strategy === 'greedy' ? argmax(logits, r * vocab, vocab) : sampleToken(logits, r * vocab, vocab, () => rngs[r]!.random(), sampling);
          scores[r]! += logProbOf(logits, r * vocab, vocab, token);
          return token;
        });
        ids = ids.map((row, r) => [...row, tokens[r]!]);
        tokens.forEach((token, r) => { if (eosIds.includes(token)) finished[r] = true; });
        if (finished.every(Boolean) || curLen + 1 >= config.max_length) break;
        modelInputs = model._update_model_kwargs_for_generation({
          generated_input_ids: tokens.map((x) => [BigInt(x)]), outputs, model_inputs: modelInputs, is_encoder_decoder: isEncoderDecoder,
        });
      }
    }
  } finally {
    const cache = modelInputs.past_key_values as KeyValueCache | null | undefined;
    await cache?.dispose?.();
  }

  const generated = (sequence: number[]): number[] => {
    const out = sequence.slice(promptLength);
    const end = out.findIndex((x) => eosIds.includes(x));
    return end < 0 ? out : out.slice(0, end + 1);
  };
  return Array.from({ length: batch }, (_, i) => {
    const hypotheses = strategy === 'beam'
      ? beams[i]!.results(perImage)
      : Array.from({ length: rowsPerImage }, (_, j) => ({ ids: ids[i * rowsPerImage + j]!, score: scores[i * rowsPerImage + j]! }));
    const tokens = hypotheses.map((h) => generated(h.ids));
    return {
      captions: tokens.map((t) => tokenizer.decode(t, { skip_special_tokens: true }).trim()),
      tokens,
      scores: hypotheses.map((h) => h.score),
    };
  });
}

function logProbOf(logits: Float32Array, start: number, vocab: number, token: number): number {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, logits[start + v]!);
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(logits[start + v]! - max);
  return logits[start + token]! - max - Math.log(sum);
}

/** A 32-bit seed for row `j` of a sampling run with `seed` (splitmix-style mixing). */
function rowSeed(seed: number, j: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
