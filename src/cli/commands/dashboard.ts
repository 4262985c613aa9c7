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

/** --port and --host from the command line (ctx.flags), checked; defaults: 6007 on 127.0.0.1. */
export function dashboardFlags(flags: Record<string, string | boolean>): DashboardFlags {
  const portRaw = flags.port;
  const hostRaw = flags.host;
  const port = portRaw === undefined ? DEFAULT_DASHBOARD_PORT : Number(portRaw);
  if (typeof portRaw === 'boolean' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SynehrError('E_USAGE', `--port must be an integer in [0, 65535], got '${String(portRaw)}'`);
  }
  if (typeof hostRaw === 'boolean' || hostRaw === '') {
    throw new SynehrError('E_USAGE', `--host needs an address such as 127.0.0.1, got '${String(hostRaw)}'`);
  }
  return { port, host: hostRaw ?? DEFAULT_DASHBOARD_HOST };
}

export async function run(ctx: CommandContext): Promise<void> {
  const { port, host } = dashboardFlags(ctx.flags);
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
