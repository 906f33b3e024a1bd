/**
 * The CLIP tokenizer of a bundle, through @huggingface/transformers with remote loading disabled. A bundle
 * with tokenizer.json loads with AutoTokenizer from its local folder; one with only vocab.json + merges.txt
 * (what optimum exports for SD: the slow CLIPTokenizer's files) gets the tokenizer.json that transformers'
 * CLIP converter would write, built in memory. Prompts are padded to the model's max length (77) with the
 * pad token, and over-long ones truncated the way transformers does (content cut, end-of-text kept).
 */
import { readFile } from 'node:fs/promises';
import { AutoTokenizer, CLIPTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import { BadInputError } from '../../core/errors';
import type { JsonObject, TokenizerFiles } from './bundle';

/** transformers' CLIPTokenizer reads at most this many merges (49152 - 256 - 2). */
const MAX_MERGES = 49152 - 256 - 2;
const CLIP_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

export interface Tokenized {
  /** [prompts][maxLength] token ids. */
  ids: number[][];
  /** Index of each prompt that was truncated, with the number of tokens it had. */
  truncated: { index: number; tokens: number }[];
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}

/** The tokenizer.json transformers' CLIPConverter writes for a slow CLIPTokenizer. */
export function clipTokenizerJson(vocab: Record<string, number>, mergesText: string, config: JsonObject): JsonObject {
  const merges = mergesText.split('\n').slice(1).filter((l) => l.trim() !== '').slice(0, MAX_MERGES).map((l) => l.trim().split(' ') as [string, string]);
  const unk = tokenContent(config.unk_token) ?? '<|endoftext|>';
  const bos = tokenContent(config.bos_token) ?? '<|startoftext|>';
  const eos = tokenContent(config.eos_token) ?? '<|endoftext|>';
  const pad = tokenContent(config.pad_token) ?? '<|endoftext|>';
  const added = new Map<number, JsonObject>();
  const decoder = config.added_tokens_decoder;
  if (typeof decoder === 'object' && decoder !== null) {
    for (const [id, token] of Object.entries(decoder as Record<string, JsonObject>)) {
      added.set(Number(id), {
        id: Number(id), content: token.content, single_word: token.single_word ?? false, lstrip: token.lstrip ?? false,
        rstrip: token.rstrip ?? false, normalized: token.normalized ?? true, special: token.special ?? true,
      });
    }
  }
  for (const content of [bos, eos, unk, pad]) {
    const id = vocab[content];
    if (id !== undefined && !added.has(id)) added.set(id, { id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  }
  const id = (token: string, field: string) => {
    const v = vocab[token];
    if (v === undefined) throw new BadInputError('tokenizer/vocab.json', `has no ${field} ${JSON.stringify(token)}`);
    return v;
  };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...added.values()].sort((a, b) => (a.id as number) - (b.id as number)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, id(eos, 'eos_token')], cls: [bos, id(bos, 'bos_token')], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

export class ClipTokenizer {
  private constructor(private readonly tokenizer: PreTrainedTokenizer, readonly maxLength: number, readonly padId: number, readonly eosId: number) {}

  static async load(files: TokenizerFiles, describe: (path: string) => string): Promise<ClipTokenizer> {
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    let tokenizer: PreTrainedTokenizer;
    try {
      if (files.tokenizerJson) {
        tokenizer = await AutoTokenizer.from_pretrained(files.dir, { local_files_only: true });
      } else {
        const vocab = JSON.parse(await readFile(files.vocab!, 'utf8')) as Record<string, number>;
        const merges = await readFile(files.merges!, 'utf8');
        tokenizer = new CLIPTokenizer(clipTokenizerJson(vocab, merges, files.config), { model_max_length: 77, ...files.config });
      }
    } catch (err) {
      if (err instanceof BadInputError) throw new BadInputError(describe(err.where), err.message.slice(err.where.length + 2));
      throw new BadInputError(describe(files.tokenizerJson ? 'tokenizer/tokenizer.json' : 'tokenizer/vocab.json'), `cannot load the CLIP tokenizer (${(err as Error).message})`);
    }
    const configured = Number(tokenizer.model_max_length);
    const maxLength = Number.isFinite(configured) && configured > 2 && configured < 100_000 ? configured : 77;
    const eosId = tokenizer.eos_token_id;
    const padId = tokenizer.pad_token_id ?? eosId;
    if (typeof eosId !== 'number' || typeof padId !== 'number') throw new BadInputError(describe('tokenizer/tokenizer_config.json'), 'the tokenizer has no end-of-text/pad token');
    return new ClipTokenizer(tokenizer, maxLength, padId, eosId);
  }

  /** Token ids padded to maxLength; longer prompts keep their first maxLength - 1 ids and end-of-text. */
  encode(prompts: readonly string[]): Tokenized {
    const ids: number[][] = [];
    const truncated: Tokenized['truncated'] = [];
    prompts.forEach((prompt, index) => {
      let row = this.tokenizer.encode(prompt, { add_special_tokens: true });
      if (row.length > this.maxLength) {
        truncated.push({ index, tokens: row.length });
        row = [...row.slice(0, this.maxLength - 1), this.eosId];
      }
      while (row.length < this.maxLength) row.push(this.padId);
      ids.push(row);
    });
    return { ids, truncated };
  }

  /** Text of the ids past the limit, for the truncation warning. */
  removedText(prompt: string): string {
    const row = this.tokenizer.encode(prompt, { add_special_tokens: false });
    return this.tokenizer.decode(row.slice(this.maxLength - 2), { skip_special_tokens: true });
  }
}
