import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { runStageUnit, StageCancelledError, type WithManifest } from '../stages/runner/stage-runner';
import type { Engines } from '../stages/activity-table';
import { NON_RETRYABLE, STAGE_VERSIONS, type StageName } from '../stages/activity-table';
import { BadInputError, ConfigError, EngineMissingError } from '../core/errors';
import { UNIT_PROGRESS_SIGNAL, type StageProgress, type UnitProgress } from '../stages/context';
import type { ActivityDeps } from './deps';
import { defaultEnergyMeter } from '../core/energy-meter';


const LIVENESS_INTERVAL_MS = 10_000;

type EngineInput<S extends StageName> = Parameters<Engines[S]>[0];
type EngineOutput<S extends StageName> = Awaited<ReturnType<Engines[S]>>;

/**
 * The Temporal side of a stage: heartbeats from engine progress, resume details from the last
 * heartbeat, cancellation as an AbortSignal, the content-hash cache, and error classification.
 */
export async function runStageActivity<S extends StageName>(
  deps: ActivityDeps,
  stage: S,
  unit: string,
  input: EngineInput<S> & { experimentId: string },
  identify?: () => Promise<unknown>,
): Promise<WithManifest<EngineOutput<S>>> {
  const engine = deps.engines[stage] as ((i: EngineInput<S>, c: unknown) => Promise<EngineOutput<S>>) | undefined;
  if (!engine) {
    const err = new EngineMissingError(stage);
    throw ApplicationFailure.create({ message: err.message, type: NON_RETRYABLE.engineMissing, nonRetryable: true });
  }
  const ctx = Context.current();
  const details = ctx.info.heartbeatDetails as StageProgress | undefined;
  // Beats every 10 s with the last progress, so that a stage between progress reports (a model
  // download, a long validation pass) is not taken for a lost worker; resume details stay current.
  // Heartbeats name the unit (a role, a batch), so that `status` and the progress bars can say whose they are.
  let last: (StageProgress & { unit: string }) | undefined = details && { ...details, unit };
  const beat = setInterval(() => ctx.heartbeat(last), LIVENESS_INTERVAL_MS);
  const metered = (deps.meter ?? defaultEnergyMeter()).start();
  let toldEpoch: number | undefined;
  try {
    // The experiment id names who asks, not what is computed: it stays out of the unit's key.
    const { experimentId, ...inputs } = input;
    const result = await runStageUnit(
      deps.store,
      { experimentId, stage, version: (deps.versions ?? STAGE_VERSIONS)[stage], unit, inputs, identity: identify ? await identify() : undefined },
      {
        progress: (p) => {
          last = { ...p, unit };
          ctx.heartbeat(last);
          if (p.validAccuracy !== undefined && p.epoch !== toldEpoch) {
            toldEpoch = p.epoch;
            tellWorkflow(ctx, { stage, unit, epoch: p.epoch, epochs: p.epochs, validAccuracy: p.validAccuracy });
          }
        },
        resume: details,
        signal: ctx.cancellationSignal,
        log: (m) => ctx.log.info(m),
      },
      (stageCtx) => engine(input, stageCtx),
    );
    return { ...result.outputs, manifestKey: result.manifestKey, reused: result.cached, energy: metered.stop(), seconds: result.seconds };
  } catch (err) {
    // Said at info level (the SDK says it at debug): whoever cancelled wants to see the unit stop.
    if (ctx.cancellationSignal.aborted) ctx.log.info(`${stage}/${unit} cancelled; no manifest written, nothing published`);
    throw classify(err, ctx.cancellationSignal.aborted);
  } finally {
    clearInterval(beat);
    metered.stop();
  }
}

/**
 * An epoch's end, told to the workflow for its Web UI details. Best effort: a workflow that has
 * closed, or a test environment without a client, loses nothing by not hearing it.
 */
function tellWorkflow(ctx: Context, progress: UnitProgress): void {
  const workflowId = ctx.info.workflowExecution?.workflowId;
  if (!workflowId) return;
  try {
    ctx.client.workflow.getHandle(workflowId).signal<[UnitProgress]>(UNIT_PROGRESS_SIGNAL, progress).catch(() => undefined);
  } catch {
    // no client here
  }
}

function classify(err: unknown, cancelled: boolean): unknown {
  if (cancelled || err instanceof StageCancelledError) {
    return new CancelledFailure((err as Error).message ?? 'cancelled');
  }
  if (err instanceof BadInputError || err instanceof ConfigError) {
    return ApplicationFailure.create({ message: err.message, type: NON_RETRYABLE.badInput, nonRetryable: true, cause: err });
  }
  return err;
}
