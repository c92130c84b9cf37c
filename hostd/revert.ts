/**
 * Undo steps for multi-step changes: register an undo after each step that
 * succeeded; if anything later fails, `fail()` runs them newest first, so a
 * failed change leaves the host as it was. Modelled on Incus's revert package.
 *
 * Every registered step is counted per operation, which is where the
 * test-only fault injection lives: with `HOSTD_FAULT_FAIL_STEP="vm.create=3"`
 * the third step of every `vm.create` fails right after it was done (and its
 * undo registered), so tests can check that each step's undo works.
 */
import { KvmError } from "../sdk/errors";
import { Logger } from "./log";

/** Operations whose steps fail on purpose, by name: which step (1-based). Set once at start (app.ts). */
let failSteps: ReadonlyMap<string, number> = new Map();

/** Test-only: makes step `n` of operation `op` fail, for each entry. Never used in production. */
export function injectStepFaults(plan: ReadonlyMap<string, number>): void {
  failSteps = plan;
}

/** Parses HOSTD_FAULT_FAIL_STEP: `op=n[,op=n...]`, e.g. `vm.create=3`. Throws on anything else. */
export function parseStepFaults(spec: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of spec.split(",")) {
    const m = /^\s*([a-z]+\.[a-z]+)=([1-9]\d*)\s*$/.exec(part);
    if (!m) throw new KvmError("invalid_params", `HOSTD_FAULT_FAIL_STEP: "${part}" is not op=step (e.g. vm.create=3).`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

export class Reverter {
  private steps: { what: string; undo: () => unknown | Promise<unknown> }[] = [];
  private count = 0;

  /** `op` names the operation (`vm.create`, ...), for logs and fault injection. */
  constructor(readonly op: string) {}

  /** Registers the undo of a step that has just been done. */
  add(what: string, undo: () => unknown | Promise<unknown>): void {
    this.steps.push({ what, undo });
    this.count++;
    if (failSteps.get(this.op) === this.count) {
      throw new KvmError("internal", `FAULT INJECTION: step ${this.count} of ${this.op} ("${what}") failed as HOSTD_FAULT_FAIL_STEP asked; the steps done so far are undone.`, {
        op: this.op,
        step: this.count,
      });
    }
  }

  /** The change is complete: forget the undo steps. */
  success(): void {
    this.steps = [];
  }

  /**
   * Runs every undo step, newest first; an undo that fails is logged and the
   * rest still run. Returns the steps whose undo failed.
   */
  async fail(log: Logger): Promise<{ step: string; err: string }[]> {
    const steps = this.steps.reverse();
    this.steps = [];
    const failed: { step: string; err: string }[] = [];
    for (const s of steps) {
      try {
        await s.undo();
      } catch (e) {
        failed.push({ step: s.what, err: (e as Error).message });
        log.error("undo step failed", { op: this.op, step: s.what, err: (e as Error).message });
      }
    }
    return failed;
  }
}

/**
 * Runs `fn` with a reverter for operation `op`; on a throw, reverts and
 * rethrows. When an undo fails too, the caller is told: the error says which
 * steps could not be undone (the host may hold leftovers of them).
 */
export async function withRevert<T>(log: Logger, op: string, fn: (r: Reverter) => Promise<T>): Promise<T> {
  const r = new Reverter(op);
  try {
    const out = await fn(r);
    r.success();
    return out;
  } catch (e) {
    const failed = await r.fail(log);
    if (failed.length === 0) throw e;
    const what = failed.map((f) => `"${f.step}": ${f.err}`).join("; ");
    const code = e instanceof KvmError ? e.code : "internal";
    const details = e instanceof KvmError ? e.details : undefined;
    throw new KvmError(code, `${(e as Error).message} Undoing it failed too (${what}); see hostd's log.`, { ...details, undoFailed: failed.map((f) => f.step) });
  }
}
