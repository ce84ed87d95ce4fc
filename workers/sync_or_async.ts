/**
 * Handlers stay synchronous unless they really have to wait (the applier then skips an await per
 * command). Storage helpers that are synchronous for inline collections and asynchronous for
 * per-member ones return MaybePromise, and callers chain with then().
 */
export type MaybePromise<T> = T | Promise<T>;

/** Apply f to v now if v is a plain value, or when it resolves if it is a Promise. */
export function then<T, R>(v: MaybePromise<T>, f: (x: T) => MaybePromise<R>): MaybePromise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}
