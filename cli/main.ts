import { Command } from 'commander';
import { demoConfig } from '../stages/config/demo';
import { DATASETS, type DatasetName } from '../datasets/specs';
import { ConfigError } from '../core/errors';
import { settingsFromEnv } from '../core/settings';
import { installWorkerLogging } from '../workers/logging';
import { pauseSignal, resumeSignal } from '../workflows/definitions';
import { BENCHMARKS } from './bench';
import { defaultEnergyMeter } from '../core/energy-meter';
import { buildDataset } from './commands/dataset';
import { ensureNativeTensorflow } from './setup/native-tensorflow';
import { ensureOnnxruntimeCuda } from './setup/onnxruntime-cuda';
import { ensureTemporalCli } from './setup/temporal-cli';
import { connectClient } from './connect';
import { experimentConfigFrom, parseConcurrency, parseQueues, sweepConfigFrom, workflowIdOf } from './options';
import { formatSnapshot, snapshot } from './progress';
import { followProgress } from './progress-bars';
import { experimentIdentity, planSweep, submitExperiment, submitSweep, sweepWorkflowId } from './submit';
import { formatRuns, listRuns } from './list';
import { sweepMarkdown } from '../stages/report/sweep-table';
import type { SweepResult } from '../workflows/sweep';

// Loaded on use: the worker side pulls in tfjs, sharp and onnxruntime, which commands that only
// talk to Temporal should not wait for.
const workerSide = () => ({
  ...(require('../workers/product-worker') as typeof import('../workers/product-worker')),
  ...(require('./commands/dev') as typeof import('./commands/dev')),
  ...(require('./commands/demo') as typeof import('./commands/demo')),
});

const out = (line: string) => process.stdout.write(`${line}\n`);
const round = (x: number, digits: number) => Number(x.toFixed(digits));
const err = (line: string) => process.stderr.write(`${line}\n`);

/** Runs one command with a client, closing it after. */
async function withClient<T>(fn: (client: Awaited<ReturnType<typeof connectClient>>['client']) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient(settingsFromEnv());
  try {
    return await fn(client);
  } finally {
    await close();
  }
}

function untilSignal(stop: () => Promise<void>): void {
  const onSignal = () => {
    err('stopping...');
    stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

const { version } = require('../package.json') as { version: string };

const program = new Command('diffubias')
  .description('DiffuBias on Temporal: debias image classifiers with generated bias-conflicting images')
  .version(version, '-V, --version')
  .showHelpAfterError();

program
  .command('setup')
  .description("install what npm cannot: the Temporal CLI, the native TensorFlow backend and, on an NVIDIA GPU, onnxruntime's CUDA provider (from PyPI); npm install runs it")
  .option('--no-temporal', 'skip the Temporal CLI (workers do not need it)')
  .option('--no-onnxruntime-cuda', "skip onnxruntime's CUDA provider (a worker that only trains: the GPU train image)")
  .option('--require-native', 'exit 1 when the native TensorFlow backend cannot be provisioned (images, CI)')
  .option('--require-gpu', "exit 1 unless TensorFlow and onnxruntime's CUDA provider both run on the GPU (scripts/gpu-check.sh)")
  .action(async (opts: { temporal: boolean; onnxruntimeCuda: boolean; requireNative?: boolean; requireGpu?: boolean }) => {
    if (opts.temporal && !ensureTemporalCli(err)) process.exitCode = 1;
    // A failed native build leaves the classifier on wasm: reported, and fatal only when asked.
    const native = await ensureNativeTensorflow({ log: err });
    if (!native.ok && (opts.requireNative || opts.requireGpu) && native.failedStep !== 'skipped') process.exitCode = 1;
    const cuda = opts.onnxruntimeCuda ? await ensureOnnxruntimeCuda({ log: err, gpu: native.device === 'gpu' }) : { ok: false, failedStep: 'skipped' };
    if (opts.requireGpu && !(native.ok && native.device === 'gpu' && native.detail?.includes('(GPU)') && (cuda.ok || !opts.onnxruntimeCuda))) {
      err(`setup --require-gpu: ${native.device === 'gpu' ? `TensorFlow ${native.ok ? native.detail : `failed at "${native.failedStep}"`}; onnxruntime CUDA ${cuda.ok ? 'ready' : opts.onnxruntimeCuda ? `failed at "${cuda.failedStep}"` : 'skipped'}` : 'no NVIDIA GPU visible (nvidia-smi)'}`);
      process.exitCode = 1;
    }
  });

program
  .command('dev')
  .description('start the local stack: Temporal dev server + Web UI (:8233), embedded S3, workflow worker + an activity worker process')
  .action(async () => {
    installWorkerLogging(err);
    const dev = await workerSide().startDev(settingsFromEnv(), err, { quiet: false });
    untilSignal(dev.stop);
    err('ready; Ctrl-C stops');
    try {
      await dev.done;
    } finally {
      // The workflow worker failing must not leave the Temporal dev server running on its own.
      await dev.stop();
    }
  });

program
  .command('worker')
  .description('serve task queues against TEMPORAL_ADDRESS and the configured S3')
  .option('--queues <list>', 'all, or a comma list of workflow,cpu,train,caption,generate', 'all')
  .option('--concurrency <pairs>', 'activities at once per queue, e.g. train=1,caption=4')
  .option('--quiet', 'log warnings and errors only')
  .option('--supervise', 'run the worker as a child process and start it again (with backoff) whenever it dies')
  .action(async (opts: { queues: string; concurrency?: string; quiet?: boolean; supervise?: boolean }) => {
    const queues = parseQueues(opts.queues);
    const concurrency = parseConcurrency(opts.concurrency);
    if (opts.supervise) {
      if (opts.concurrency) throw new ConfigError(['--concurrency: not with --supervise (the supervised worker takes the defaults)']);
      const { superviseActivityWorker } = require('./stack/activity-worker-process') as typeof import('./stack/activity-worker-process');
      const supervised = superviseActivityWorker({ queues, env: process.env, quiet: opts.quiet ?? false, log: err });
      err(`supervising the worker for ${queues.join(', ')} (pid ${supervised.pid}): started again with backoff whenever it dies`);
      untilSignal(() => supervised.stop());
      await supervised.done;
      return;
    }
    installWorkerLogging(err, opts.quiet ? 'WARN' : 'INFO');
    const { workers, done } = await workerSide().startProductWorkers({ settings: settingsFromEnv(), queues, concurrency, log: err });
    untilSignal(async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    });
    await done;
  });

program
  .command('run')
  .description('submit one experiment (the same config twice is one workflow); prints its workflow id')
  .option('--config <file>', 'YAML or JSON experiment config; flags override it')
  .option('--dataset <name>', 'cmnist, cifar10c, bffhq, bar or dogs_and_cats')
  .option('--ratio <percent>', 'percent of bias-conflicting training samples, e.g. 1')
  .option('--seed <n>', 'seed', undefined)
  .option('--follow', 'show progress until it ends')
  .option('--dry-run', 'print the resolved config and its workflow id; submit nothing')
  .action(async (opts: { config?: string; dataset?: string; ratio?: string; seed?: string; follow?: boolean; dryRun?: boolean }) => {
    const config = await experimentConfigFrom(opts);
    if (opts.dryRun) {
      const { workflowId, configHash } = experimentIdentity(config);
      out(JSON.stringify({ workflowId, configHash, config }, null, 2));
      return;
    }
    await withClient(async (client) => {
      const { workflowId, state } = await submitExperiment(client, config);
      out(workflowId);
      err(state === 'started' ? 'started' : state === 'running' ? 'already running: attached' : 'already completed: see `diffubias report`');
      if (opts.follow) await followProgress(client, workflowId, err);
    });
  });

program
  .command('sweep')
  .description('submit a sweep over datasets x ratios x seeds; prints its workflow id')
  .option('--config <file>', 'YAML or JSON sweep config ({datasets, ratios, seeds, parallelism, base})')
  .option('--datasets <list>', 'comma list of datasets')
  .option('--ratios <list>', "comma list of percents, e.g. 0.5,1,2,5, or 'paper': each dataset's ratios from the paper (the default)")
  .option('--seeds <list>', 'comma list of seeds, e.g. 0,1,2')
  .option('--parallelism <n>', 'experiments at once (default 2)')
  .option('--follow', 'show progress until it ends')
  .option('--dry-run', 'print the cells (workflow id and resolved config of each); submit nothing')
  .action(async (opts: { config?: string; datasets?: string; ratios?: string; seeds?: string; parallelism?: string; follow?: boolean; dryRun?: boolean }) => {
    const plan = planSweep(await sweepConfigFrom(opts));
    if (opts.dryRun) {
      out(JSON.stringify({ workflowId: sweepWorkflowId(plan), parallelism: plan.parallelism, cells: plan.cells }, null, 2));
      return;
    }
    await withClient(async (client) => {
      const { workflowId, state } = await submitSweep(client, plan);
      out(workflowId);
      err(`${plan.cells.length} experiments, ${plan.parallelism} at a time (${state})`);
      if (opts.follow) {
        const status = await followProgress(client, workflowId, err);
        if (status === 'COMPLETED') out(sweepMarkdown(await client.workflow.getHandle(workflowId).result() as SweepResult));
      }
    });
  });

program
  .command('list')
  .description('experiments and sweeps, newest first: id, status, stage, cell, start, duration')
  .option('--running', 'running ones only')
  .option('--cells', "include sweeps' cells")
  .option('--limit <n>', 'at most this many', '20')
  .option('--json', 'one JSON object per line')
  .action(async (opts: { running?: boolean; cells?: boolean; limit: string; json?: boolean }) => {
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new ConfigError([`--limit: expected a positive integer, got ${opts.limit}`], 'flags');
    await withClient(async (client) => {
      const rows = await listRuns(client, { limit, running: opts.running, cells: opts.cells });
      if (opts.json) for (const row of rows) out(JSON.stringify(row));
      else out(formatRuns(rows));
    });
  });

program
  .command('status <id>')
  .description('stage, counts and heartbeats of an experiment or sweep')
  .option('--watch', 'keep watching until it ends')
  .option('--json', 'print the snapshot as JSON')
  .action(async (id: string, opts: { watch?: boolean; json?: boolean }) => {
    await withClient(async (client) => {
      if (opts.watch) await followProgress(client, workflowIdOf(id), out);
      else {
        const s = await snapshot(client, workflowIdOf(id));
        out(opts.json ? JSON.stringify(s, null, 2) : formatSnapshot(s));
      }
    });
  });

for (const [name, signal, what] of [
  ['pause', pauseSignal, 'finish running units of work, start no new ones'],
  ['resume', resumeSignal, 'continue a paused experiment or sweep'],
] as const) {
  program
    .command(`${name} <id>`)
    .description(what)
    .action(async (id: string) => {
      await withClient(async (client) => {
        await client.workflow.getHandle(workflowIdOf(id)).signal(signal);
        err(`${name} sent to ${workflowIdOf(id)}`);
      });
    });
}

program
  .command('cancel <id>')
  .description('cancel at a safe point; stored stages stay consistent')
  .action(async (id: string) => {
    await withClient(async (client) => {
      await client.workflow.getHandle(workflowIdOf(id)).cancel();
      err(`cancellation requested for ${workflowIdOf(id)}`);
    });
  });

program
  .command('report <id>')
  .description('results JSON of a finished experiment or sweep')
  .option('--html <dir>', 'also write results.json and report.html (an experiment) or table.md and table.html (a sweep) into <dir>')
  .option('--md', 'a sweep: print its Markdown table instead of the JSON')
  .action(async (id: string, opts: { html?: string; md?: boolean }) => {
    const settings = settingsFromEnv();
    const workflowId = workflowIdOf(id);
    const { readStoredResults, resultsKey, withStore } = require('./stored-results') as typeof import('./stored-results');
    // Stored results first: a finished run's report needs the store only, not Temporal.
    await withStore(settings, async (store) => {
      const stored = await readStoredResults(store, workflowId);
      if (!stored) {
        const status = await withClient(async (client) => (await client.workflow.getHandle(workflowId).describe()).status.name).catch(() => undefined);
        if (status) throw new Error(`${workflowId} is ${status}; a report exists once it has completed`);
        throw new Error(`no stored results for ${workflowId} at ${store.uri(resultsKey(workflowId).key)}, and Temporal at ${settings.temporal.address} does not know it`);
      }
      if (stored.kind === 'sweep') {
        out(opts.md ? sweepMarkdown(stored.result) : JSON.stringify(stored.result, null, 2));
        if (opts.html) {
          const { writeSweepTables } = require('./report-files') as typeof import('./report-files');
          const files = await writeSweepTables(stored.result, opts.html);
          err(`table: ${files.md}`);
          err(`table: ${files.html}`);
        }
        return;
      }
      out(JSON.stringify(stored.result, null, 2));
      if (opts.html) {
        const { writeReportFiles } = require('./report-files') as typeof import('./report-files');
        const files = await writeReportFiles(store, stored.result, opts.html);
        err(`report: ${files.html}`);
      }
    });
  });

program
  .command('bench')
  .description('run the benchmarks; one JSON line per benchmark')
  .option('--only <names>', 'comma list of benchmark names')
  .action(async (opts: { only?: string }) => {
    const only = opts.only?.split(',');
    for (const bench of BENCHMARKS) {
      if (only && !only.includes(bench.name)) continue;
      // Energy by the product's own meter (core/energy.ts), so tools/energy_vs_codecarbon.py can
      // set it beside CodeCarbon's figure for the same run.
      const metered = defaultEnergyMeter().start();
      const result = await bench.run();
      const energy = metered.stop();
      out(JSON.stringify({ name: bench.name, ...result, cpuSeconds: round(energy.cpuSeconds, 3), kwh: round(energy.kwh.total, 9), kwhCpu: round(energy.kwh.cpu, 9), kwhRam: round(energy.kwh.ram, 9), gCo2eq: round(energy.gCo2eq, 6) }));
    }
  });

const dataset = program
  .command('dataset')
  .description('datasets in the DisEnt layout');
dataset
  .command('build <name>')
  .description('build Colored MNIST from the MNIST files npm ships, no download: cmnist (this project\'s) or cmnist-lff (LfF\'s make_dataset.py)')
  .requiredOption('--out <dir>', 'a folder or s3://bucket/prefix')
  .option('--ratios <list>', 'percents of bias-conflicting training samples', '0.5,1,2,5')
  .option('--seed <n>', 'seed (the same seed gives byte-identical files)', '0')
  .option('--severity <n>', 'cmnist-lff: LfF\'s colour-noise severity, 1-5 (default 4, as LfF\'s experiments)')
  .action(async (name: string, opts: { out: string; ratios: string; seed: string; severity?: string }) => {
    const severity = opts.severity === undefined ? undefined : Number(opts.severity);
    await buildDataset(name, { out: opts.out, ratios: opts.ratios.split(',').map(Number), seed: Number(opts.seed), severity }, settingsFromEnv(), err);
  });

dataset
  .command('export <root>')
  .description('copy a dataset into the ImageFolder layout (bias labels dropped) or the metadata-CSV layout (bias kept), with the dataset.json that describes it')
  .requiredOption('--dataset <name|spec.json>', 'the dataset to copy, as for check')
  .requiredOption('--ratio <percent>', 'which ratio of a DisEnt-layout dataset (e.g. 1)')
  .requiredOption('--layout <imagefolder|csv>', 'the copy\'s layout')
  .requiredOption('--out <dir>', 'the folder the copy goes under (a datasetRoot)')
  .requiredOption('--name <name>', 'the copy\'s dataset name (its folder under --out)')
  .action(async (root: string, opts: { dataset: string; ratio: string; layout: string; out: string; name: string }) => {
    const { exportDatasetCommand } = require('./commands/dataset') as typeof import('./commands/dataset');
    await exportDatasetCommand(root, { ...opts, ratio: Number(opts.ratio) }, settingsFromEnv(), err);
  });

dataset
  .command('check <root>')
  .description('check a dataset before training: counts per split and class, bad or truncated images, duplicates across splits, missing or tiny classes; exit 1 on errors')
  .requiredOption('--dataset <name|spec.json>', 'which dataset under the root: a built-in (cmnist, bffhq, ...), a dataset spec file, or a folder holding a dataset.json')
  .requiredOption('--ratio <percent>', 'the bias-conflicting ratio whose train split to check (e.g. 1)')
  .option('--json', 'the whole report as JSON')
  .option('--names-only', "check the files' names only, not their bytes (fast on S3)")
  .action(async (root: string, opts: { dataset: string; ratio: string; json?: boolean; namesOnly?: boolean }) => {
    const { checkDatasetCommand } = require('./commands/dataset') as typeof import('./commands/dataset');
    process.exitCode = await checkDatasetCommand(root, { dataset: opts.dataset, ratio: Number(opts.ratio), json: Boolean(opts.json), namesOnly: Boolean(opts.namesOnly) }, settingsFromEnv(), out);
  });

program
  .command('demo')
  .description('start the local stack and run one Colored MNIST experiment end to end with the demo bundles')
  .option('--ratio <percent>', 'percent of bias-conflicting samples', '1')
  .option('--seed <n>', 'seed', '0')
  .option('--epochs <n>', `epochs of each classifier (demo default ${demoConfig(1, 0).train.epochs})`)
  .option('--images <n>', `images to generate (demo default ${demoConfig(1, 0).generate.images})`)
  .option('--selection <rule>', 'which epoch vanilla and DiffuBias keep: last or valid (docs/protocol.md; default last)')
  .option('--init <scheme>', 'initial weights: torch or glorot (default torch)')
  .option('--keep', 'keep the local stack (and its Web UI) up after the run, until Ctrl-C')
  .action(async (opts: { ratio: string; seed: string; epochs?: string; images?: string; selection?: string; init?: string; keep?: boolean }) => {
    installWorkerLogging(err, 'WARN');
    const base = demoConfig(Number(opts.ratio), Number(opts.seed));
    const overrides: Record<string, unknown> = {};
    if (opts.epochs !== undefined) overrides.train = { ...base.train, epochs: Number(opts.epochs) };
    if (opts.images !== undefined) overrides.generate = { ...base.generate, images: Number(opts.images) };
    if (opts.selection !== undefined) overrides.selection = { ...base.selection, classifiers: opts.selection };
    if (opts.init !== undefined) overrides.classifier = { ...base.classifier, init: opts.init };
    process.exitCode = await workerSide().runDemo(settingsFromEnv(), { ratio: Number(opts.ratio), seed: Number(opts.seed), overrides, keep: opts.keep }, err);
  });

program
  .command('reproduce <dataset>')
  .description("start the local stack and run the paper's sweep for a dataset (its ratios x seeds), ending with table.md and table.html")
  .option('--seeds <list>', 'comma list of seeds', '0,1,2')
  .option('--parallelism <n>', 'experiments at once', '1')
  .option('--budget <budget>', "paper (50 epochs, as many generated images as bias-aligned ones) or demo (the demo's settings at every ratio; Colored MNIST)", 'paper')
  .option('--recipe <recipe>', 'with the paper budget: chosen (the recipe chosen on validation, docs/protocol.md) or paper (the paper as written)', 'chosen')
  .option('--protocol <protocol>', "ours (this project's data and inputs) or peers (the published baselines' own data, input scaling and epochs: vanilla alone; cmnist)", 'ours')
  .action(async (dataset: string, opts: { seeds: string; parallelism: string; budget: string; recipe: string; protocol: string }) => {
    installWorkerLogging(err, 'WARN');
    const problems: string[] = [];
    if (!(dataset in DATASETS)) problems.push(`dataset: unknown dataset ${JSON.stringify(dataset)}; expected one of ${Object.keys(DATASETS).join(', ')}`);
    if (opts.budget !== 'paper' && opts.budget !== 'demo') problems.push(`budget: expected paper or demo, got ${JSON.stringify(opts.budget)}`);
    if (opts.budget === 'demo' && dataset !== 'cmnist') problems.push('budget: demo runs the demo bundles, which are for cmnist');
    if (opts.recipe !== 'chosen' && opts.recipe !== 'paper') problems.push(`recipe: expected chosen or paper, got ${JSON.stringify(opts.recipe)}`);
    if (opts.protocol !== 'ours' && opts.protocol !== 'peers') problems.push(`protocol: expected ours or peers, got ${JSON.stringify(opts.protocol)}`);
    if (opts.protocol === 'peers' && dataset !== 'cmnist') problems.push("protocol: peers is defined for cmnist (LfF's Colored MNIST and MLP)");
    if (opts.protocol === 'peers' && opts.budget !== 'paper') problems.push("protocol: peers has its own budget (100 epochs); leave --budget at paper");
    const seeds = opts.seeds.split(',').map((t) => Number(t.trim()));
    if (seeds.some((n) => !Number.isInteger(n) || n < 0)) problems.push(`seeds: expected a comma list of non-negative integers, got ${JSON.stringify(opts.seeds)}`);
    const parallelism = Number(opts.parallelism);
    if (!Number.isInteger(parallelism) || parallelism < 1) problems.push(`parallelism: expected a positive integer, got ${JSON.stringify(opts.parallelism)}`);
    if (problems.length > 0) throw new ConfigError(problems);
    const { runReproduce } = require('./commands/reproduce') as typeof import('./commands/reproduce');
    process.exitCode = await runReproduce(settingsFromEnv(), {
      dataset: dataset as DatasetName, seeds, parallelism, budget: opts.budget as 'paper' | 'demo', recipe: opts.recipe as 'chosen' | 'paper', protocol: opts.protocol as 'ours' | 'peers',
    }, err, out);
  });

const cluster = program
  .command('cluster')
  .description('a local cluster with production parts: Temporal server on PostgreSQL, an S3 gateway, Web UI, one worker process per role (docs/cluster.md)');
const clusterSide = () => require('./cluster/cluster') as typeof import('./cluster/cluster');
cluster.command('up').description('start whatever part is not running (idempotent)').action(async () => {
  await clusterSide().clusterUp(settingsFromEnv(), err);
});
cluster.command('down').description('stop every part, workers first (idempotent)').action(async () => {
  await clusterSide().clusterDown(settingsFromEnv(), err);
});
cluster.command('setup').description('against TEMPORAL_ADDRESS and the configured S3: search attributes, bucket, demo bundles on S3 (compose\'s setup step)')
  .option('--experiment <file>', 'also write the demo experiment with its dataset and bundles on that S3')
  .action(async (opts: { experiment?: string }) => {
  await clusterSide().clusterSetup(settingsFromEnv(), err, opts.experiment);
});
cluster.command('stage-images <dir>').description("the local service images' build context: the Go binaries, SQL schema and configs cluster up uses (docker/services/build.sh)").action(async (dir: string) => {
  await (require('./cluster/images') as typeof import('./cluster/images')).stageServiceImages(dir, err);
});
cluster.command('status').description('each process: running or not, and its log').action(() => {
  for (const line of clusterSide().clusterStatus(settingsFromEnv())) out(line);
});
cluster.command('env').description('export lines for a shell: eval "$(npx diffubias cluster env)"').action(() => {
  for (const line of clusterSide().clusterEnvLines(settingsFromEnv())) out(line);
});

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) {
    err(e.message);
    process.exit(2);
  }
  err(`error: ${(e as Error).message ?? String(e)}`);
  process.exit(1);
});
