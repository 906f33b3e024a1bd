/**
 * Captioner families against Python transformers on the same files: tiny random-weight bundles of
 * the real architectures (tools/make_tiny_vlm.py, make_tiny_florence2.py, make_tiny_smolvlm.py),
 * exported in the layout transformers.js loads, with PyTorch's greedy and beam generations in
 * reference.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearCaptioners, loadCaptioner, type Captioner, type CaptionImage } from '../../engines/captioner/captioner';
import { DEFAULT_INSTRUCTION } from '../../engines/captioner/prompts';

interface VlmReference {
  prompt: string;
  max_new_tokens: number;
  num_beams: number;
  images: { file: string; input_ids: number[]; generated_ids: number[]; text: string; beam: { ids: number[]; text: string; score: number }[] }[];
}

const LLAVA = join(__dirname, '..', 'fixtures', 'tiny-llava');
const reference = JSON.parse(readFileSync(join(LLAVA, 'reference.json'), 'utf8')) as VlmReference;
const images: CaptionImage[] = reference.images.map((r) => ({ bytes: readFileSync(join(LLAVA, r.file)), name: join(LLAVA, r.file) }));
/** The instruction inside the reference's chat turn ("USER: <image>\n<instruction> ASSISTANT:"). */
const INSTRUCTION = /<image>\n(.*) ASSISTANT:$/.exec(reference.prompt)![1]!;

let llava: Captioner;
beforeAll(async () => {
  llava = await loadCaptioner(LLAVA);
});
afterAll(() => clearCaptioners());

describe('LLaVA (1.5 layout: CLIP ViT, projector, Llama) on a tiny random-weight bundle', () => {
  it('loads as the llava family', () => {
    expect(llava.modelType).toBe('llava');
  });

  it('greedy captions equal Python transformers token for token (6 images)', async () => {
    const results = await llava.caption(images, { strategy: 'greedy', maxNewTokens: reference.max_new_tokens, prompt: INSTRUCTION });
    expect(results.map((r) => r.tokens[0])).toEqual(reference.images.map((r) => r.generated_ids));
    expect(results.map((r) => r.captions[0])).toEqual(reference.images.map((r) => r.text.trim()));
    expect(results.every((r) => r.prompt === INSTRUCTION)).toBe(true);
  });

  it('beam search returns the same 3 sequences as Python generate(num_beams=3, num_return_sequences=3), in order', async () => {
    const results = await llava.caption(images, { strategy: 'beam', perImage: 3, numBeams: reference.num_beams, maxNewTokens: reference.max_new_tokens, prompt: INSTRUCTION });
    expect(results.map((r) => r.tokens)).toEqual(reference.images.map((r) => r.beam.map((b) => b.ids)));
    expect(results.map((r) => r.captions)).toEqual(reference.images.map((r) => r.beam.map((b) => b.text.trim())));
    // Length-normalised log-probs as Python's sequences_scores, to onnxruntime's float error.
    for (const [i, r] of results.entries()) {
      r.scores.forEach((s, k) => expect(Math.abs(s - reference.images[i]!.beam[k]!.score)).toBeLessThan(1e-3));
    }
  });

  it("without a prompt the family's default instruction is asked, and said", async () => {
    const [result] = await llava.caption(images.slice(0, 1), { strategy: 'greedy', maxNewTokens: 3 });
    expect(result!.prompt).toBe(DEFAULT_INSTRUCTION);
  });
});

/** Greedy and beam parity of one family's tiny bundle; `ids` maps a reference entry to the generated tokens (prompt excluded). */
function familyParity(folder: string, family: string, prompt: string | undefined, greedyIds: (r: FamilyImage) => number[], beamIds: (ids: number[]) => number[]) {
  const dir = join(__dirname, '..', 'fixtures', folder);
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { max_new_tokens: number; num_beams: number; images: FamilyImage[] };
  const pictures: CaptionImage[] = ref.images.map((r) => ({ bytes: readFileSync(join(dir, r.file)), name: join(dir, r.file) }));
  describe(`${family} on a tiny random-weight bundle (${folder})`, () => {
    let captioner: Captioner;
    beforeAll(async () => {
      captioner = await loadCaptioner(dir);
    });

    it(`loads as the ${family} family; greedy captions equal Python transformers token for token (${ref.images.length} images)`, async () => {
      expect(captioner.modelType).toBe(family);
      const results = await captioner.caption(pictures, { strategy: 'greedy', maxNewTokens: ref.max_new_tokens, prompt });
      expect(results.map((r) => r.tokens[0])).toEqual(ref.images.map(greedyIds));
      expect(results.map((r) => r.captions[0])).toEqual(ref.images.map((r) => r.text.trim()));
    });

    it('beam search returns the same 3 sequences as Python generate(num_beams=3, num_return_sequences=3), in order, scores to 1e-3', async () => {
      const results = await captioner.caption(pictures, { strategy: 'beam', perImage: 3, numBeams: ref.num_beams, maxNewTokens: ref.max_new_tokens, prompt });
      expect(results.map((r) => r.tokens)).toEqual(ref.images.map((r) => r.beam.map((b) => beamIds(b.ids))));
      expect(results.map((r) => r.captions)).toEqual(ref.images.map((r) => r.beam.map((b) => b.text.trim())));
      for (const [i, r] of results.entries()) r.scores.forEach((score, k) => expect(Math.abs(score - ref.images[i]!.beam[k]!.score)).toBeLessThan(1e-3));
    });
  });
}

interface FamilyImage {
  file: string;
  text: string;
  generated_ids?: number[];
  sequence?: number[];
  beam: { ids: number[]; text: string; score: number }[];
}

// Florence-2 (DaViT + BART encoder-decoder), task <CAPTION>: Python's sequences start with the decoder start token.
familyParity('tiny-florence2', 'florence2', '<CAPTION>', (r) => r.sequence!.slice(1), (ids) => ids.slice(1));
// SmolVLM (SigLIP-style vision, pixel-shuffle connector, Llama), one chat turn.
familyParity('tiny-smolvlm', 'smolvlm', 'Describe the image.', (r) => r.generated_ids!, (ids) => ids);
