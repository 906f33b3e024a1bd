/** What a caption call asks and gets back. */
export type CaptionStrategy = 'beam' | 'sample' | 'greedy';

export interface CaptionRequest {
  /** Default 'beam'. 'greedy' yields one caption per image. */
  strategy?: CaptionStrategy;
  /** Captions per image; default 3 (1 for greedy). */
  perImage?: number;
  /** Seed of the sampling strategy: the same seed gives the same captions. Default 0. */
  seed?: number;
  /** Default: the bundle's generation_config (max_new_tokens, else max_length minus the prompt; 20 if neither). */
  maxNewTokens?: number;
  /** Beam search width; default max(perImage, the bundle's num_beams). Never below perImage. */
  numBeams?: number;
  /** Sampling warpers; default the bundle's generation_config (transformers defaults 1, 50, 1). */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Florence-2: the task token (default `<CAPTION>`); chat VLMs (LLaVA, SmolVLM/Idefics3): the instruction. Ignored by vision-encoder-decoder models. */
  prompt?: string;
  /** Images per forward batch (each expands to perImage rows); default 8. */
  batchSize?: number;
  signal?: AbortSignal;
}

export interface ImageCaptions {
  captions: string[];
  /** Generated token ids of each caption (prompt excluded, EOS included when produced). */
  tokens: number[][];
  /** Beam: length-normalised log-prob; greedy and sample: sum of log-probs of the chosen tokens. */
  scores: number[];
  /** The task or instruction the model was given (absent for a family that takes none). */
  prompt?: string;
}

/** An encoded image and how to name it in errors (its path or URI). */
export interface CaptionImage {
  bytes: Uint8Array;
  name: string;
}
