import { BadInputError } from '../../core/errors';
import type { SelectTopKInput, SelectTopKOutput } from '../pipeline';
import { lossTableFromCsv } from '../selection/loss-table';
import { selectTopK } from '../selection/top-k';
import type { StageEngine } from '../stage';

export const selectTopKEngine: StageEngine<SelectTopKInput, SelectTopKOutput> = async (input, ctx) => {
  const bytes = await ctx.store.get(input.tableKey);
  if (!bytes) throw new BadInputError(ctx.store.uri(input.tableKey), 'loss table missing');
  const rows = lossTableFromCsv(bytes.toString('utf8'), ctx.store.uri(input.tableKey));
  const selection = selectTopK(rows, { k: input.k, mode: input.mode, score: input.score, numClasses: input.numClasses ?? 1 + Math.max(...rows.map((r) => r.label)), ratio: input.ratio });
  const selectionKey = await ctx.putJson('selection.json', selection);
  return {
    selectionKey,
    items: selection.rows.map((r, index) => ({ index, image: r.file, label: r.label })),
    precision: selection.precision,
    recall: selection.recall,
  };
};
