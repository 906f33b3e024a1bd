/**
 * Where a run's results are stored: the one place that spells these keys (the workflows write
 * there, the CLI reads there). Free of imports, so that workflow code may use it.
 */

/** An experiment's results.json (its report.html beside it). */
export function experimentResultsKey(experimentId: string): string {
  return `runs/${experimentId}/report/results.json`;
}

/** A sweep's results.json (its tables beside it). */
export function sweepResultsKey(sweepId: string): string {
  return `sweeps/${sweepId}/results.json`;
}
