/**
 * bench/train.ts refuses a PyTorch reference that ran on an unoptimized BLAS or on other threads:
 * the rule on reports of each kind, and, where Debian's torch is installed, on what
 * bench/reference/train_ref.py really reports under OpenBLAS and under the reference BLAS.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeBlas, unfairReference, type ReferenceBlas } from '../../bench/referenceBlas.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const openblas: ReferenceBlas = {
  torch_threads: 2,
  libraries: ['/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3', '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so'],
  threadpools: [
    { user_api: 'openmp', internal_api: 'openmp', filepath: '/usr/lib/x86_64-linux-gnu/libgomp.so.1.0.0', num_threads: 2 },
    { user_api: 'blas', internal_api: 'openblas', filepath: '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so', version: '0.3.21', num_threads: 2 },
  ],
};
const netlib: ReferenceBlas = {
  torch_threads: 2,
  libraries: ['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0', '/usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3.11.0'],
  threadpools: [{ user_api: 'openmp', internal_api: 'openmp', filepath: '/usr/lib/x86_64-linux-gnu/libgomp.so.1.0.0', num_threads: 2 }],
};

describe('unfairReference', () => {
  it('accepts OpenBLAS on synehr\'s threads, and prints what it found', () => {
    expect(unfairReference(openblas, 2)).toBeNull();
    expect(describeBlas(openblas)).toBe('BLAS openblas 0.3.21, 2 threads (/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so); torch 2 threads');
    // without threadpoolctl the mapped libraries tell
    expect(unfairReference({ ...openblas, threadpools: null }, 2)).toBeNull();
  });
  it('EXPECTED FAILURE - the reference BLAS, other threads, or no BLAS at all are refused with the reason', () => {
    expect(unfairReference(netlib, 2)).toBe(
      'PyTorch runs on an unoptimized BLAS (/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0, /usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3.11.0): apt-get install -y libopenblas0-pthread',
    );
    expect(unfairReference({ ...openblas, torch_threads: 1 }, 2)).toBe('PyTorch runs 1 threads, synehr 2');
    expect(unfairReference({ ...openblas, threadpools: [openblas.threadpools![0]!, { ...openblas.threadpools![1]!, num_threads: 8 }] }, 2)).toBe("the reference's BLAS runs 8 threads, synehr 2");
    expect(unfairReference({ torch_threads: 2, libraries: [], threadpools: [] }, 2)).toBe('no BLAS library found in the reference process');
  });
});

const torch = existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const netlibInstalled = existsSync('/usr/lib/x86_64-linux-gnu/blas/libblas.so.3');

function probe(env: Record<string, string> = {}): ReferenceBlas {
  const args = JSON.stringify({ n_layer: 1, n_embd: 32, n_head: 2, T: 32, B: 2, V: 40, steps: 1, warmup: 0, threads: 2 });
  const r = spawnSync('/usr/bin/python3', [join(ROOT, 'bench', 'reference', 'train_ref.py'), args], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '2', OPENBLAS_NUM_THREADS: '2', ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { blas: ReferenceBlas }).blas;
}

describe.runIf(torch)('train_ref.py reports the BLAS it ran on (Debian python3-torch)', () => {
  it('the system BLAS: fair when it is OpenBLAS (libopenblas0-pthread)', () => {
    const blas = probe();
    const reason = unfairReference(blas, 2);
    if (blas.libraries.some((l) => l.includes('openblas'))) expect(reason).toBeNull();
    else expect(reason).toMatch(/unoptimized BLAS/);
  });
  it.runIf(netlibInstalled)('EXPECTED FAILURE - the reference BLAS (libblas3) put first on the library path is refused', () => {
    const blas = probe({ LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack' });
    expect(blas.libraries.some((l) => l.includes('/blas/libblas'))).toBe(true);
    expect(unfairReference(blas, 2)).toMatch(/^PyTorch runs on an unoptimized BLAS \(.*\/blas\/libblas\.so/);
  });
});
