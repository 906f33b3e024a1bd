/** The writeReport step: results.json, and for an experiment its self-contained report page beside it. */
import type { ArtifactStore } from '../../core/store';
import { workerSettingsFromEnv } from '../../core/settings';
import type { ExperimentResult, WriteReportInput, WriteReportOutput } from '../contracts';
import { renderExperimentReport, reportHtmlKey } from './collect-report';

/**
 * Results first, then the page. A page that cannot be drawn (an artifact unreadable now, a bug in
 * a chart) must not fail the experiment whose results are stored: it is said, and `report --html`
 * draws it again later.
 */
export async function storeReport(store: ArtifactStore, input: WriteReportInput, warn: (message: string) => void = () => {}): Promise<WriteReportOutput> {
  await store.putJson(input.key, input.report);
  const out: WriteReportOutput = { key: input.key, uri: store.uri(input.key) };
  if (!input.experiment) return out;
  const htmlKey = reportHtmlKey(input.key);
  try {
    const page = await renderExperimentReport(store, input.report as ExperimentResult, input.uiPath ? `${workerSettingsFromEnv().uiUrl}${input.uiPath}` : undefined);
    await store.put(htmlKey, page, 'text/html; charset=utf-8');
    return { ...out, htmlKey };
  } catch (err) {
    const htmlError = (err as Error).message ?? String(err);
    warn(`report page not stored (${htmlError}); \`diffubias report <id> --html <dir>\` draws it from the stored results`);
    return { ...out, htmlError };
  }
}
