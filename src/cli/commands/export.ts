/**
 * `synehr export model=<run>`: onnx/model.onnx (Hugging Face GPT-2 layout with KV cache),
 * config.json, generation_config.json and sampler.onnx in the run directory.
 */
import type { CommandContext } from '../context.ts';
import { exportRun } from '../../generate/export.ts';

export async function run(ctx: CommandContext): Promise<void> {
  const dir = await ctx.runDir();
  const r = await exportRun(dir, ctx.config.model, ctx.config.generate);
  for (const f of r.files) ctx.log(`wrote ${f}`);
  ctx.log(`export: ${r.files.length} files from model.safetensors (sha256 ${r.weightsHash.slice(0, 12)}…) in ${r.seconds.toFixed(1)} s`);
}
