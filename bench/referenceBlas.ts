/**
 * Whether bench/train.ts's PyTorch reference ran on a BLAS fit to compare against. Debian's torch
 * takes whatever libblas.so.3 the alternatives system points at: without libopenblas0-pthread that
 * is the reference (netlib) BLAS, an order of magnitude slower, and the same run reported synehr
 * 32x faster instead of 3.9x. bench/reference/train_ref.py reports what it really loaded.
 */
/** What train_ref.py says of the BLAS it ran on. */
export interface ReferenceBlas {
  torch_threads: number;
  /** the BLAS / LAPACK libraries mapped into the process (real paths) */
  libraries: string[];
  /** threadpoolctl's view, null when it is not installed */
  threadpools: { user_api?: string; internal_api?: string; filepath?: string; version?: string; num_threads?: number }[] | null;
}

/** An optimized BLAS: OpenBLAS, MKL or BLIS (by threadpoolctl, else by the mapped library's path). */
const OPTIMIZED_BLAS = /openblas|mkl|blis/i;

/**
 * Why a comparison against this reference would be unfair, or null when it is fair: the BLAS it
 * ran on must be an optimized one, and its threads (torch's and the BLAS's) synehr's.
 */
export function unfairReference(blas: ReferenceBlas, threads: number): string | null {
  const pools = (blas.threadpools ?? []).filter((p) => p.user_api === 'blas');
  const names = pools.length > 0 ? pools.map((p) => `${p.internal_api} ${p.version ?? ''} (${p.filepath})`.replace(/\s+\(/, ' (')) : blas.libraries;
  if (names.length === 0) return 'no BLAS library found in the reference process';
  const optimized = pools.length > 0 ? pools.every((p) => OPTIMIZED_BLAS.test(`${p.internal_api} ${p.filepath}`)) : blas.libraries.some((l) => OPTIMIZED_BLAS.test(l)) && !blas.libraries.some((l) => /\/blas\/libblas/.test(l));
  if (!optimized) return `PyTorch runs on an unoptimized BLAS (${names.join(', ')}): apt-get install -y libopenblas0-pthread`;
  if (blas.torch_threads !== threads) return `PyTorch runs ${blas.torch_threads} threads, synehr ${threads}`;
  const blasThreads = pools.map((p) => p.num_threads).filter((n): n is number => n !== undefined);
  if (blasThreads.some((n) => n !== threads)) return `the reference's BLAS runs ${blasThreads.join(', ')} threads, synehr ${threads}`;
  return null;
}

export function describeBlas(blas: ReferenceBlas): string {
  const pools = (blas.threadpools ?? []).filter((p) => p.user_api === 'blas');
  const lib = pools.length > 0 ? pools.map((p) => `${p.internal_api} ${p.version ?? '?'}, ${p.num_threads} threads (${p.filepath})`).join('; ') : `${blas.libraries.join(', ') || 'none found'} (threadpoolctl missing: BLAS threads unknown)`;
  return `BLAS ${lib}; torch ${blas.torch_threads} threads`;
}
