/**
 * Installing synehr must not run onnxruntime-node's install script, which downloads CUDA binaries
 * from outside the npm registry, fails without network access, and takes the whole install down.
 * The mechanism is npm's install-script policy: package.json's `allowScripts` denies that one
 * script (`.npmrc`'s `onnxruntime-node-install=skip` is for npm versions without the policy, and
 * is an unknown project config to current npm, which will stop passing it on). This installs
 * onnxruntime-node into a fresh project under our policy alone, with no .npmrc and none of npm's
 * own config in the environment, and checks that the script did not run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};

/** The environment without npm's config (npm passes .npmrc keys to scripts as npm_config_*) or ORT's own switch. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && !/^ONNXRUNTIME_NODE_INSTALL/i.test(k)) env[k] = v;
  return env;
}

const policySupported = (() => {
  try {
    return execFileSync('npm', ['config', 'get', 'allow-scripts'], { encoding: 'utf8', env: cleanEnv(), stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== 'undefined';
  } catch {
    return false;
  }
})();

describe('installation', () => {
  it("package.json's allowScripts denies onnxruntime-node's install script", () => {
    expect(pkg.allowScripts).toMatchObject({ 'onnxruntime-node': false });
    expect(pkg.dependencies['onnxruntime-node']).toBeDefined();
  });

  it.runIf(policySupported)('a fresh install of onnxruntime-node under our allowScripts alone does not run its download', () => {
    const dir = mkdtempSync(join(tmpdir(), 'synehr-install-'));
    try {
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'install-check', version: '0.0.0', private: true, dependencies: { 'onnxruntime-node': pkg.dependencies['onnxruntime-node'] }, allowScripts: pkg.allowScripts }),
      );
      expect(existsSync(join(dir, '.npmrc'))).toBe(false);
      const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', '--userconfig', join(dir, 'no-user-npmrc')], {
        cwd: dir,
        env: cleanEnv(),
        encoding: 'utf8',
        timeout: 110_000,
      });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.status, out).toBe(0);
      // --foreground-scripts prints every script it runs (`> node ./script/install`)
      expect(out).not.toMatch(/script\/install/);
      expect(existsSync(join(dir, 'node_modules', 'onnxruntime-node', 'package.json'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
