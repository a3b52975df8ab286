/**
 * A queue for a Durable Object's calls: each runs after the previous one settled (done or
 * failed). The object lets other requests in while it awaits D1 or storage, so without it
 * two calls could interleave a read-decide-write.
 */
export function serialQueue(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>) => {
    const run = tail.then(work, work);
    tail = run.catch(() => {});
    return run;
  };
}
