import { BadInputError } from '../core/errors';
import type { SelectTopKInput, SelectTopKOutput } from './contracts';
import { selectTopK, type TopKSelection } from '../engines/selection/top-k';
import { z } from 'zod';
import { jsonArtifact, readArtifact, type ArtifactKind } from './artifacts';
import { LOSS_TABLE } from './classifier-stages';
import type { StageEngine } from './context';
import { defineStage } from './define-stage';

const lossRow = z.object({ file: z.string(), label: z.number().int(), bias: z.number().int(), predicted: z.number().int(), ce: z.number(), gce: z.number() });

/** The selection as selectTopK stores it (rows, precision and recall against the bias labels, the K used). */
export const SELECTION: ArtifactKind<TopKSelection> = jsonArtifact('selection.json', z.object({
  rows: z.array(lossRow), precision: z.number().nullable(), recall: z.number().nullable(), k: z.number().int(),
}));

export const selectTopKEngine: StageEngine<SelectTopKInput, SelectTopKOutput> = async (input, ctx) => {
  const rows = await readArtifact(ctx.store, LOSS_TABLE, input.tableKey);
  const selection = selectTopK(rows, { k: input.k, mode: input.mode, score: input.score, numClasses: input.numClasses ?? 1 + Math.max(...rows.map((r) => r.label)), ratio: input.ratio });
  const selectionKey = await ctx.putArtifact(SELECTION, selection);
  return {
    selectionKey,
    items: selection.rows.map((r, index) => ({ index, image: r.file, label: r.label })),
    precision: selection.precision,
    recall: selection.recall,
  };
};

/** Stage (b), second half: the K highest-loss training images, globally or per class. */
export const selectTopKStage = defineStage('selectTopK', { unit: 'topk', run: selectTopKEngine });
