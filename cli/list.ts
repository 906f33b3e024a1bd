/** `diffubias list`: the experiments and sweeps Temporal knows, newest first, from its visibility store. */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { formatSeconds } from './durations';

export interface ListedRun {
  workflowId: string;
  type: string;
  status: string;
  stage: string;
  dataset?: string;
  ratio?: number;
  seed?: number;
  started: Date;
  closed?: Date;
}

export interface ListOptions {
  limit: number;
  /** Running ones only. */
  running?: boolean;
  /** Sweep cells too (they are experiments started by a sweep). */
  cells?: boolean;
}

function toRow(info: WorkflowExecutionInfo): ListedRun {
  const attrs = info.typedSearchAttributes;
  return {
    workflowId: info.workflowId,
    type: info.type,
    status: info.status.name,
    stage: attrs.get(SEARCH_ATTRIBUTES.stage) ?? '',
    dataset: attrs.get(SEARCH_ATTRIBUTES.dataset),
    ratio: attrs.get(SEARCH_ATTRIBUTES.biasRatio),
    seed: attrs.get(SEARCH_ATTRIBUTES.seed),
    started: info.startTime,
    closed: info.closeTime,
  };
}

/** Fan-out chunks are children of their experiment and say nothing on their own: left out. */
export async function listRuns(client: Client, options: ListOptions): Promise<ListedRun[]> {
  const clauses = [`WorkflowType IN ('experiment', 'sweep')`];
  if (options.running) clauses.push(`ExecutionStatus = 'Running'`);
  if (!options.cells) clauses.push('ParentWorkflowId IS NULL');
  const rows: ListedRun[] = [];
  for await (const info of client.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(options.limit, 1000) })) {
    rows.push(toRow(info));
    if (rows.length >= options.limit) break;
  }
  return rows;
}

function duration(row: ListedRun, now: Date): string {
  return formatSeconds(((row.closed ?? now).getTime() - row.started.getTime()) / 1000);
}

/** One line per run, in columns: id, status, stage, cell, started, how long. */
export function formatRuns(rows: readonly ListedRun[], now = new Date()): string {
  if (rows.length === 0) return 'no experiments or sweeps yet';
  const table = [
    ['WORKFLOW ID', 'STATUS', 'STAGE', 'CELL', 'STARTED', 'TOOK'],
    ...rows.map((r) => [
      r.workflowId,
      r.status.toLowerCase(),
      r.stage,
      r.type === 'sweep' ? 'sweep' : `${r.dataset ?? '?'} ${r.ratio ?? '?'}% seed ${r.seed ?? '?'}`,
      r.started.toISOString().slice(0, 19).replace('T', ' '),
      duration(r, now),
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  return table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}
