import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { CMNIST_COLORS } from '../datasets/cmnist/colors';
import { DATASETS } from '../datasets/specs';
import { initBackend } from '../engines/classifier/backend';
import { jsonArtifact, type ArtifactKind } from './artifacts';
import { generatedItems } from './classifier-stages';
import type { InspectGeneratedInput, InspectGeneratedOutput, Inspection } from './contracts';
import type { StageEngine } from './context';
import { itemPixels } from './dataset-access';
import { defineStage } from './define-stage';
import { JUDGE, judgeView, trainJudge } from './mnist-judge';
import { colourGrid, nearestColour } from './report/colour-check';

const count = z.number().int().nonnegative();
/** The inspection's schema; analysis.json of runs from before this stage holds the same two parts. */
export const INSPECTION_SCHEMA = z.object({
  judge: z.object({
    method: z.string(), testAccuracy: z.number(), generated: count, recognised: count,
    perClass: z.array(z.object({ label: z.number().int(), generated: count, recognised: count })),
  }),
  colours: z.object({
    cells: z.array(z.array(z.object({ count, example: z.string().optional() }))),
    measured: count, ownColour: count, noForeground: count,
  }),
});
export const INSPECTION: ArtifactKind<Inspection> = jsonArtifact('inspection.json', INSPECTION_SCHEMA);

/** Images decoded, judged and measured at once: bounded memory at 54k images. */
const CHUNK = 500;

/** Colored MNIST's generated images, each decoded once: the judge's verdict and each image's colour. */
async function inspect(input: InspectGeneratedInput, ctx: Parameters<StageEngine<InspectGeneratedInput, InspectGeneratedOutput>>[1]): Promise<Inspection> {
  const backend = await initBackend(ctx.log);
  const items = await generatedItems(ctx.store, input.generatedManifests);
  const judge = await trainJudge(backend);
  const { imageSize } = DATASETS.cmnist;
  const perClass = Array.from({ length: 10 }, (_, label) => ({ label, generated: 0, recognised: 0 }));
  const palette = { rgb: CMNIST_COLORS.map((c) => c.rgb) };
  const per = imageSize * imageSize * 3;
  const measured: { label: number; colour: number | undefined; example: string }[] = [];
  try {
    for (let at = 0; at < items.length; at += CHUNK) {
      if (ctx.signal.aborted) throw new Error('inspection cancelled');
      const chunk = items.slice(at, at + CHUNK);
      const { raw } = await itemPixels(chunk, imageSize, undefined);
      chunk.forEach((item, i) => measured.push({ label: item.label, colour: nearestColour(raw.subarray(i * per, (i + 1) * per), palette, 1), example: item.location }));
      const view = judgeView(raw, chunk.length);
      const logits = tf.tidy(() => judge.model.apply(tf.tensor4d(view, [chunk.length, imageSize, imageSize, 3])) as tf.Tensor2D);
      const argmax = logits.argMax(-1);
      const predicted = (await argmax.data()) as Int32Array;
      tf.dispose([logits, argmax]);
      chunk.forEach((item, i) => {
        const c = perClass[item.label];
        if (!c) return;
        c.generated++;
        if (predicted[i] === item.label) c.recognised++;
      });
      ctx.progress({ done: Math.min(items.length, at + CHUNK), total: items.length });
    }
  } finally {
    judge.model.dispose();
  }
  return {
    judge: {
      method: `MLP trained here on grayscale MNIST (${JUDGE.epochs} epochs), reading each image's intensity`,
      testAccuracy: judge.testAccuracy,
      generated: perClass.reduce((n, c) => n + c.generated, 0),
      recognised: perClass.reduce((n, c) => n + c.recognised, 0),
      perClass,
    },
    colours: colourGrid(measured, 10, palette.rgb.length),
  };
}

/**
 * The generated set's label accuracy by the in-project MNIST judge, and its colours, for every
 * Colored MNIST experiment (docs/protocol.md); other datasets have no judge and get an empty output.
 */
export const inspectGeneratedEngine: StageEngine<InspectGeneratedInput, InspectGeneratedOutput> = async (input, ctx) => {
  if (input.dataset.name !== 'cmnist' || input.generatedManifests.length === 0) return {};
  const inspection = await inspect(input, ctx);
  const { judge } = inspection;
  ctx.log(`judge (MNIST test ${judge.testAccuracy.toFixed(2)}%): prompted digit recognised in ${judge.recognised} of ${judge.generated} generated images`);
  const inspectionKey = await ctx.putArtifact(INSPECTION, inspection);
  return { inspectionKey, judge: { generated: judge.generated, recognised: judge.recognised, judgeTestAccuracy: judge.testAccuracy } };
};

/** After generation, beside f_D's training: is each generated image the digit and colour it was asked for? */
export const inspectGeneratedStage = defineStage('inspectGenerated', { unit: 'generated', run: inspectGeneratedEngine });
