import { z } from "zod";

/**
 * One protocol method: its name and the schemas of its params and result.
 * The same object is used by `HostClient.call(Method, params)` and by
 * hostd's `server.handle(Method, fn)`, so both sides share one definition.
 */
export interface Method<P extends z.ZodType, R extends z.ZodType> {
  readonly name: string;
  readonly params: P;
  readonly result: R;
  /** Mutating methods change host state; hostd logs them at info level. */
  readonly mutating: boolean;
}

export function defineMethod<P extends z.ZodType, R extends z.ZodType>(
  name: string,
  params: P,
  result: R,
  opts: { mutating: boolean },
): Method<P, R> {
  return { name, params, result, mutating: opts.mutating };
}

/** The input type a caller passes (defaults may be omitted). */
export type ParamsIn<M> = M extends Method<infer P, z.ZodType> ? z.input<P> : never;
/** The params a handler receives (defaults filled in). */
export type ParamsOut<M> = M extends Method<infer P, z.ZodType> ? z.output<P> : never;
/** The result type. */
export type ResultOf<M> = M extends Method<z.ZodType, infer R> ? z.output<R> : never;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyMethod = Method<any, any>;
