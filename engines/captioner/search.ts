/**
 * Token selection for caption generation, free of any model runtime: greedy, seeded sampling and
 * beam search. Beam search follows `GenerationMixin._beam_search` of Python transformers 4.57
 * (top 2K continuations, finished hypotheses scored by sum of log-probs / generated length ^
 * length_penalty, the same early-stop heuristic), so that its results match Python's `generate`
 * with `num_beams` and `num_return_sequences`. transformers.js 4.3 has no beam search of its own
 * (its `num_beams` silently decodes greedily) and samples from one process-wide random state, which
 * is why the captioner selects tokens itself.
 */

/** torch keeps log-probs in float32; rounding the same way keeps near-ties ordered as in Python. */
const f32 = Math.fround;
/** transformers' stand-in for "impossible" (a float32 addition in Python). */
const NEG = -1.0e9;

/** Row-wise log-softmax of `[rows, vocab]` logits, in place semantics avoided: returns a new array. */
export function logSoftmaxRows(logits: Float32Array, rows: number, vocab: number): Float32Array {
  const out = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const base = r * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[base + v]!);
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[base + v]! - max);
    const logSum = max + Math.log(sum);
    for (let v = 0; v < vocab; v++) out[base + v] = logits[base + v]! - logSum;
  }
  return out;
}

/** Index of the largest value (the first one on ties, as torch.argmax). */
export function argmax(values: Float32Array, start = 0, length = values.length - start): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = values[start + i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

export interface SamplingOptions {
  /** Divides the logits; 1 = unchanged. */
  temperature: number;
  /** Keep the k most likely tokens (ties at the k-th value kept, as transformers' TopKLogitsWarper); 0 = all. */
  topK: number;
  /** Nucleus: keep the most likely tokens whose probabilities sum to top_p; 1 = all. */
  topP: number;
}

/**
 * Samples one token from processed logits with `random` (uniform in [0, 1)): temperature, top-k
 * and top-p as transformers' warpers, then the inverse CDF over token ids in ascending order.
 */
export function sampleToken(logits: Float32Array, start: number, vocab: number, random: () => number, opts: SamplingOptions): number {
  const scores = new Float64Array(vocab);
  const t = opts.temperature > 0 ? opts.temperature : 1;
  for (let v = 0; v < vocab; v++) scores[v] = logits[start + v]! / t;
  if (opts.topK > 0 && opts.topK < vocab) {
    const sorted = Array.from(scores).sort((a, b) => b - a);
    const threshold = sorted[opts.topK - 1]!;
    for (let v = 0; v < vocab; v++) if (scores[v]! < threshold) scores[v] = -Infinity;
  }
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, scores[v]!);
  const probs = new Float64Array(vocab);
  let sum = 0;
  for (let v = 0; v < vocab; v++) {
    probs[v] = scores[v] === -Infinity ? 0 : Math.exp(scores[v]! - max);
    sum += probs[v]!;
  }
  for (let v = 0; v < vocab; v++) probs[v] = probs[v]! / sum;
  if (opts.topP < 1) {
    // transformers' TopPLogitsWarper: drop the tokens whose ascending cumulative probability is
    // <= 1 - top_p, always keeping the most likely one.
    const order = Array.from(probs.keys()).sort((a, b) => probs[a]! - probs[b]! || a - b);
    let cumulative = 0;
    for (let i = 0; i < order.length - 1; i++) {
      const v = order[i]!;
      cumulative += probs[v]!;
      if (cumulative <= 1 - opts.topP) probs[v] = 0;
    }
    sum = probs.reduce((a, b) => a + b, 0);
    for (let v = 0; v < vocab; v++) probs[v] = probs[v]! / sum;
  }
  let x = random();
  let last = 0;
  for (let v = 0; v < vocab; v++) {
    if (probs[v]! <= 0) continue;
    last = v;
    x -= probs[v]!;
    if (x < 0) return v;
  }
  return last;
}

export interface BeamSettings {
  numBeams: number;
  eosIds: readonly number[];
  /** Sequence length (prompt included) at which every hypothesis stops. */
  maxLength: number;
  /** Length of the prompt (1 for an encoder-decoder: the decoder start token). */
  promptLength: number;
  lengthPenalty: number;
  earlyStopping: boolean | 'never';
}

export interface Hypothesis {
  /** The whole sequence, prompt included. */
  ids: number[];
  score: number;
}

interface Candidate {
  ids: number[];
  logProb: number;
  origin: number;
  stops: boolean;
}

/** Beam search over the beams of one image. */
export class BeamGroup {
  private running: Hypothesis[];
  private finished: (Hypothesis & { done: boolean })[];
  private improvable = true;
  private allStopped = false;

  constructor(prompt: readonly number[], private readonly s: BeamSettings) {
    this.running = Array.from({ length: s.numBeams }, (_, k) => ({ ids: [...prompt], score: k === 0 ? 0 : NEG }));
    this.finished = Array.from({ length: s.numBeams }, () => ({ ids: [...prompt], score: NEG, done: false }));
  }

  /** True once no step can change the result any more. */
  get done(): boolean {
    return !this.improvable || this.allStopped || (this.s.earlyStopping === true && this.finished.every((f) => f.done));
  }

  /**
   * One step. `logProbs` holds the processed log-probs of this group's beams (`numBeams` rows of
   * `vocab`, starting at `offset`); `curLen` is the current sequence length. Returns, for each beam
   * of the next step, the beam it continues and the token appended to it.
   */
  step(logProbs: Float32Array, offset: number, vocab: number, curLen: number): { origins: number[]; tokens: number[] } {
    const { numBeams: k, eosIds, maxLength, promptLength, lengthPenalty } = this.s;
    const keep = Math.max(2, 1 + eosIds.length) * k;
    // The top `keep` (beam, token) continuations by accumulated log-prob, best first, ties by index.
    const topValues: number[] = [];
    const topIndex: number[] = [];
    for (let b = 0; b < k; b++) {
      const base = offset + b * vocab;
      const running = this.running[b]!.score;
      for (let v = 0; v < vocab; v++) {
        const value = f32(logProbs[base + v]! + running);
        if (topValues.length === keep && value <= topValues[keep - 1]!) continue;
        let at = topValues.length;
        while (at > 0 && topValues[at - 1]! < value) at--;
        topValues.splice(at, 0, value);
        topIndex.splice(at, 0, b * vocab + v);
        if (topValues.length > keep) {
          topValues.pop();
          topIndex.pop();
        }
      }
    }
    const candidates: Candidate[] = topIndex.map((index, i) => {
      const origin = Math.floor(index / vocab);
      const token = index % vocab;
      return {
        ids: [...this.running[origin]!.ids, token],
        logProb: topValues[i]!,
        origin,
        stops: eosIds.includes(token) || curLen + 1 >= maxLength,
      };
    });

    // e. The best `numBeams` continuations that did not stop run on.
    const runningOrder = candidates
      .map((c, i) => ({ c, i, score: c.stops ? f32(c.logProb + NEG) : c.logProb }))
      .sort((a, b) => b.score - a.score || a.i - b.i)
      .slice(0, k);
    this.running = runningOrder.map(({ c, score }) => ({ ids: c.ids, score }));

    // f. Finished hypotheses: only stopped continuations among the top `numBeams` qualify.
    const frozen = !this.improvable || (this.s.earlyStopping === true && this.finished.every((f) => f.done));
    const norm = (curLen + 1 - promptLength) ** lengthPenalty;
    const merged = [
      ...this.finished.map((f, i) => ({ h: f, i })),
      ...candidates.map((c, j) => {
        const justFinished = c.stops && j < k;
        let score = f32(c.logProb / norm);
        if (frozen) score = f32(score + NEG);
        if (!justFinished) score = f32(score + NEG);
        return { h: { ids: c.ids, score, done: justFinished }, i: k + j };
      }),
    ];
    merged.sort((a, b) => b.h.score - a.h.score || a.i - b.i);
    this.finished = merged.slice(0, k).map((m) => m.h);

    // g. Can a running beam still beat the worst finished one?
    const nextLen = curLen + 1;
    const hypotheticalLength = this.s.earlyStopping === 'never' && lengthPenalty > 0 ? maxLength - promptLength : nextLen - promptLength;
    const bestPossible = f32(this.running[0]!.score / hypotheticalLength ** lengthPenalty);
    const worst = Math.min(...this.finished.map((f) => f.score));
    this.improvable = this.improvable && this.finished.some((f) => bestPossible > (f.done ? worst : NEG));
    this.allStopped = candidates.every((c) => c.stops);

    return { origins: runningOrder.map(({ c }) => c.origin), tokens: runningOrder.map(({ c }) => c.ids[c.ids.length - 1]!) };
  }

  /** The best `n` hypotheses, best first. */
  results(n: number): Hypothesis[] {
    return this.finished.slice(0, n).map((f) => ({ ids: f.ids, score: f.score }));
  }
}
