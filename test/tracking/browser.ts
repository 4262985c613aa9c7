/**
 * Debian's Chromium driven by playwright-core, as the machine notes prescribe: a new empty profile,
 * and no background networking (this machine's closed network refuses those connections).
 * A missing browser is a failure with the fix in its message, never a silent skip.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the dashboard's browser tests need Debian's chromium ` +
        '(apt-get install -y chromium, as .ci/run does); they are not skipped without it',
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'synehr-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * For a suite's beforeAll: Chromium, or why it could not start, kept for each test to rethrow,
 * so that a missing browser shows as failed tests, not skipped ones.
 */
export async function launchChromiumForSuite(): Promise<{ browser?: Awaited<ReturnType<typeof launchChromium>>; error?: unknown }> {
  try {
    return { browser: await launchChromium() };
  } catch (error) {
    return { error };
  }
}

/**
 * Where a suite saves its screenshots: $SYNEHR_SCREENSHOTS/<name> when set (kept, for a person to
 * look at), else a temporary folder that `cleanup` removes.
 */
export function screenshotDir(name: string): { dir: string; cleanup(): void } {
  const keep = process.env.SYNEHR_SCREENSHOTS;
  if (keep) {
    const dir = join(keep, name);
    mkdirSync(dir, { recursive: true });
    return { dir, cleanup: () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), `synehr-${name}-shots-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
