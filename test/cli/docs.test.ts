import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigKeys } from '../../src/cli/docs.ts';
import { commentsOfSchema } from '../../src/cli/schemaDocs.ts';
import { GROUPS, groupSchemas, objectShape } from '../../src/config/schema.ts';
import { ERROR_CODES } from '../../src/util/errors.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('docs/config-keys.md', () => {
  it('is what src/cli/docs.ts generates from the schemas (regenerate: npx tsx src/cli/docs.ts > docs/config-keys.md)', async () => {
    const committed = readFileSync(join(ROOT, 'docs', 'config-keys.md'), 'utf8');
    expect(committed, 'docs/config-keys.md is stale: run `npx tsx src/cli/docs.ts > docs/config-keys.md`').toBe(await renderConfigKeys(ROOT));
  });
  it('lists every key of every group', async () => {
    const md = await renderConfigKeys(ROOT);
    for (const g of GROUPS) {
      expect(md).toContain(`## \`${g}\``);
      for (const key of Object.keys(objectShape(groupSchemas[g] as never) ?? {})) expect(md).toContain(`| \`${key}\` |`);
    }
  });
});

describe('docs/cli.md', () => {
  it('lists every error code with its one meaning, as src/util/errors.ts has them', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `(E_[A-Z_0-9]+)` \| (.*) \|$/gm)].map((m) => [m[1], m[2]!.replace(/\\\|/g, '|')]);
    expect(rows).toEqual(Object.entries(ERROR_CODES));
  });
});

describe('commentsOfSchema', () => {
  it('takes the // lines right above each key at the object level, joined, and nothing from nested levels', () => {
    const src = [
      "export const aSchema = z",
      "  .object({",
      "    // first line",
      "    // second line",
      "    x: z.number().default(1),",
      "    y: z.object({",
      "      // nested: not y's",
      "      inner: z.string(),",
      "    }),",
      "    z: z.string(),",
      "    // after a blank key",
      "    w: z.enum(['a', 'b']),",
      "  })",
      "  .strict();",
      "export const bSchema = z.object({",
      "  // b's",
      "  k: z.string(),",
      "});",
    ].join('\n');
    expect([...commentsOfSchema(src, 'aSchema')]).toEqual([
      ['x', 'first line second line'],
      ['w', 'after a blank key'],
    ]);
    expect([...commentsOfSchema(src, 'bSchema')]).toEqual([['k', "b's"]]);
    expect([...commentsOfSchema(src, 'nope')]).toEqual([]);
  });
});
