import { copyFile, cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensureGoTool, goModuleDir, GO_TOOLS } from './go-tools';
import { CLUSTER_PINS } from './pins';
import { DYNAMIC_CONFIG, temporalServerConfig, writeUiConfig } from './temporal-server';

/**
 * The build context of the cluster's service images for machines without a container registry
 * (docker/services/build.sh): the Go binaries `cluster up` runs, built from the module proxy with the
 * same pins, the server's SQL schema, and the same server and UI configs, so the containers and the
 * local cluster are one configuration. The server's database password is left as a template that
 * Temporal fills from POSTGRES_PWD when it starts (its config loader's `# enable-template`).
 */
export async function stageServiceImages(dir: string, log: (line: string) => void): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  for (const [tool, name] of [
    [GO_TOOLS.temporalServer, 'temporal-server'], [GO_TOOLS.temporalSql, 'temporal-sql-tool'],
    [GO_TOOLS.temporalUi, 'temporal-ui-server'], [GO_TOOLS.versitygw, 'versitygw'],
  ] as const) {
    await copyFile(await ensureGoTool(tool, log), join(dir, 'bin', name));
  }
  const schema = join(goModuleDir(CLUSTER_PINS.temporalServer.module, CLUSTER_PINS.temporalServer.version), 'schema', 'postgresql', 'v12');
  await cp(schema, join(dir, 'schema'), { recursive: true });
  const config = temporalServerConfig('{{ env "POSTGRES_PWD" }}', '/etc/temporal/dynamicconfig.yaml');
  await writeFile(join(dir, 'temporal.yaml'), `# enable-template\n${stringify(config)}`);
  await writeFile(join(dir, 'dynamicconfig.yaml'), DYNAMIC_CONFIG);
  await writeUiConfig(dir);
  log(`staged the service images' context in ${dir}`);
}
