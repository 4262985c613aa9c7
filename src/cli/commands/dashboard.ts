/**
 * `synehr dashboard [--port N] [--host 127.0.0.1]`: the local web app over saved_models/ and
 * data/synthetic/ (see src/tracking/dashboard/server.ts). Runs until Ctrl-C.
 */
import type { CommandContext } from '../context.ts';
import { SynehrError } from '../../util/errors.ts';
import { DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT, startDashboard } from '../../tracking/dashboard/server.ts';

export { startDashboard };

export interface DashboardFlags {
  port: number;
  host: string;
}

type FlagValue = string | number | boolean | undefined;

/**
 * --port and --host from whichever form the dispatcher hands over: a flags object on the context,
 * or, failing that, the process's own argv (`--port 6007`, `--port=6007`).
 */
export function dashboardFlags(ctx: CommandContext, argv: string[] = process.argv.slice(2)): DashboardFlags {
  const given = (ctx as CommandContext & { flags?: Record<string, FlagValue> }).flags;
  const get = (name: string): FlagValue => {
    if (given && name in given) return given[name];
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === `--${name}`) return argv[i + 1];
      if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
    }
    return undefined;
  };
  const portRaw = get('port');
  const hostRaw = get('host');
  const port = portRaw === undefined ? DEFAULT_DASHBOARD_PORT : Number(portRaw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SynehrError('E_USAGE', `--port must be an integer in [0, 65535], got '${String(portRaw)}'`);
  }
  if (hostRaw !== undefined && (typeof hostRaw !== 'string' || hostRaw === '')) {
    throw new SynehrError('E_USAGE', `--host must be an address such as 127.0.0.1, got '${String(hostRaw)}'`);
  }
  return { port, host: hostRaw ?? DEFAULT_DASHBOARD_HOST };
}

export async function run(ctx: CommandContext): Promise<void> {
  const { port, host } = dashboardFlags(ctx);
  let dashboard;
  try {
    dashboard = await startDashboard({ workDir: ctx.workDir, port, host });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new SynehrError('E_USAGE', `port ${port} on ${host} is in use; pick another with --port N (0 = any free port)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new SynehrError('E_USAGE', `cannot bind to --host ${host}: no such local address`);
    throw e;
  }
  ctx.log(`dashboard: ${dashboard.url}  (runs in ${ctx.workDir}/saved_models, data sets in data/synthetic; Ctrl-C to stop)`);
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
    ctx.log(`warning: listening on ${host}: anyone who can reach it can read your runs' configs, metrics and generated data`);
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await dashboard.close();
}
