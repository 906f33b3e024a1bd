import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { TOOLS_DIR } from '../setup/paths';
import { CLUSTER_PINS } from './pins';
import { runTool } from './processes';

export interface GoTool {
  /** Folder name under the tools dir and the log's name for it. */
  name: string;
  module: string;
  version: string;
  /** The package to install, relative to the module. */
  command: string;
}

export const GO_TOOLS = {
  temporalServer: { name: 'temporal-server', ...CLUSTER_PINS.temporalServer, command: 'cmd/server' },
  temporalSql: { name: 'temporal-sql-tool', ...CLUSTER_PINS.temporalServer, command: 'cmd/tools/sql' },
  temporalUi: { name: 'temporal-ui', ...CLUSTER_PINS.temporalUi, command: 'cmd/server' },
  versitygw: { name: 'versitygw', ...CLUSTER_PINS.versitygw, command: 'cmd/versitygw' },
} as const satisfies Record<string, GoTool>;

function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: CLUSTER_PINS.goToolchain, GOFLAGS: '-mod=mod' };
}

/** Where `go install` puts a tool: one folder per tool and version, so two `server` binaries never collide. */
export function goToolPath(tool: GoTool, toolsDir = TOOLS_DIR): string {
  return join(toolsDir, 'cluster', `${tool.name}-${tool.version}`, basename(tool.command));
}

/**
 * The tool's binary, built from the Go module proxy on first use (`go install module/command@version`;
 * minutes for Temporal's server, then instant). Needs `go` on PATH.
 */
export async function ensureGoTool(tool: GoTool, log: (line: string) => void, toolsDir = TOOLS_DIR): Promise<string> {
  const path = goToolPath(tool, toolsDir);
  if (existsSync(path)) return path;
  const bin = join(path, '..');
  await mkdir(bin, { recursive: true });
  log(`building ${tool.name} ${tool.version} from the Go module proxy (go install, ${CLUSTER_PINS.goToolchain}; a few minutes the first time)`);
  const started = Date.now();
  runTool(`building ${tool.name}`, 'go', ['install', `${tool.module}/${tool.command}@${tool.version}`], { env: { ...goEnv(), GOBIN: bin }, stdio: ['ignore', 'pipe', 'pipe'] });
  log(`built ${tool.name} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return path;
}

/** The folder of a module version in Go's module cache (the server's SQL schema lives there). */
export function goModuleDir(module: string, version: string): string {
  const out = runTool('locating a Go module', 'go', ['mod', 'download', '-json', `${module}@${version}`], { env: goEnv(), cwd: TOOLS_DIR });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`go mod download ${module}@${version} gave no folder`);
  return dir;
}
