import { describe, expect, it } from 'vitest';
import { activityOptions, STAGE_DECLARATIONS, STAGE_NAMES, STAGE_VERSIONS } from '../../stages/activity-table';
import type { CaptionImageInput, GenerateBatchInput, LegacyCaptionImageInput, TrainClassifierInput } from '../../stages/contracts';
import type { Engines } from '../../stages/activity-table';
import { PRODUCT_STAGES } from '../../stages/product-stages';
import { CAPTIONS } from '../../stages/caption-image';
import { SELECTION } from '../../stages/select-top-k';

/**
 * One declaration per stage (stages/activity-table.ts) and one definition beside its engine
 * (defineStage): what they must agree on, and what they keep stable for the stage cache.
 */
describe('stage declarations and definitions', () => {
  it('every declared stage has a definition under its own name, and its version is the one the cache keys use', () => {
    expect(Object.keys(PRODUCT_STAGES)).toEqual(STAGE_NAMES);
    for (const name of STAGE_NAMES) {
      expect(PRODUCT_STAGES[name].name).toBe(name);
      expect(STAGE_VERSIONS[name]).toBe(STAGE_DECLARATIONS[name].version);
    }
  });

  it('a declaration\'s version and types stay out of the options workflows schedule activities with', () => {
    for (const name of STAGE_NAMES) {
      const options = activityOptions(name) as Record<string, unknown>;
      expect(options).not.toHaveProperty('version');
      expect(options).not.toHaveProperty('io');
      expect(options).not.toHaveProperty('queue');
    }
  });

  // Unit names are part of every stored unit's key: renaming one would recompute (and orphan) what is stored.
  it('names units as stored runs named them', () => {
    const train = { role: 'debiased' } as TrainClassifierInput;
    const batch = { batchIndex: 7 } as GenerateBatchInput;
    const caption = { unit: 3, items: [] } as unknown as CaptionImageInput;
    const legacy = { item: { index: 12, image: 'a.png', label: 1 } } as unknown as LegacyCaptionImageInput;
    expect({
      prepareDataset: PRODUCT_STAGES.prepareDataset.unit({} as never),
      trainClassifier: PRODUCT_STAGES.trainClassifier.unit(train),
      scoreLosses: PRODUCT_STAGES.scoreLosses.unit({} as never),
      selectTopK: PRODUCT_STAGES.selectTopK.unit({} as never),
      captionImage: PRODUCT_STAGES.captionImage.unit(caption),
      legacyCaption: PRODUCT_STAGES.captionImage.unit(legacy),
      filterCaptions: PRODUCT_STAGES.filterCaptions.unit({} as never),
      generateBatch: PRODUCT_STAGES.generateBatch.unit(batch),
      inspectGenerated: PRODUCT_STAGES.inspectGenerated.unit({} as never),
      evaluate: PRODUCT_STAGES.evaluate.unit({ role: 'vanilla' } as never),
      analyzeModels: PRODUCT_STAGES.analyzeModels.unit({} as never),
    }).toEqual({
      prepareDataset: 'dataset', trainClassifier: 'debiased', scoreLosses: 'biased', selectTopK: 'topk', captionImage: 'images-00003',
      legacyCaption: 'image-00012', filterCaptions: 'filter', generateBatch: 'batch-00007', inspectGenerated: 'generated', evaluate: 'vanilla',
      analyzeModels: 'models',
    });
    // An input of the old shape reaches the engine in today's.
    expect(PRODUCT_STAGES.captionImage.accept(legacy)).toMatchObject({ unit: 12, items: [legacy.item] });
  });

  it('a test double must return its stage\'s declared output (checked by the compiler, which `npm test` runs first)', () => {
    // @ts-expect-error precision is a number in SelectTopKOutput: a double returning another shape does not compile.
    const wrong: Engines['selectTopK'] = async () => ({ selectionKey: 'k', items: [], precision: 'high', recall: 0 });
    // @ts-expect-error a double may not leave out an output field (generateBatch's image count).
    const missing: Engines['generateBatch'] = async () => ({ modelSeconds: 1 });
    expect([typeof wrong, typeof missing]).toEqual(['function', 'function']);
  });
});

describe('typed artifacts', () => {
  const row = { file: 'a.png', label: 1, bias: 2, predicted: 2, ce: 3.5, gce: 1.2 };

  it('a writer of another shape fails at once, naming the file and the field (what putArtifact runs before writing)', () => {
    expect(() => SELECTION.encode({ rows: [row], precision: 'high', recall: 0.5, k: 1 } as never, 's3://b/stages/selectTopK/topk/x/selection.json'))
      .toThrow('s3://b/stages/selectTopK/topk/x/selection.json: not a valid selection.json: precision: ');
    expect(() => SELECTION.encode({ rows: [{ ...row, label: undefined }], precision: 1, recall: 0.5, k: 1 } as never, 'w'))
      .toThrow(/rows\.0\.label: /);
  });

  it('writes the value as given and reads it back; a captions file of one entry (older units) reads as a list of one', () => {
    const selection = { rows: [row], precision: 1, recall: 0.5, k: 1 };
    const bytes = SELECTION.encode(selection, 'w');
    expect(bytes).toBe(`${JSON.stringify(selection)}\n`);
    expect(SELECTION.decode(Buffer.from(bytes), 'w')).toEqual(selection);
    const old = { image: 'a.png', label: 3, captions: ['a three'] };
    expect(CAPTIONS.decode(Buffer.from(JSON.stringify(old)), 'w')).toEqual([old]);
    expect(() => CAPTIONS.decode(Buffer.from('{"image": 1'), 'old/captions.json')).toThrow('old/captions.json: not a valid captions.json: not JSON');
  });
});
