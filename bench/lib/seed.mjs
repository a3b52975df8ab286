// Seeding helpers: run a range of work in chunks with bounded concurrency.

/**
 * Calls `fn` over [from, to): with step 1 as fn(i), else as fn(start, end) per chunk of
 * `step`, at most `concurrency` at a time. The first failure stops the rest and throws.
 */
export async function inBatches(from, to, step, concurrency, fn) {
  let next = from;
  let failed = null;
  const worker = async () => {
    while (next < to && !failed) {
      const start = next;
      const end = Math.min(to, start + step);
      next = end;
      try {
        await (step === 1 ? fn(start) : fn(start, end));
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  if (failed) throw failed;
}
