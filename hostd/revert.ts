/**
 * Undo steps for multi-step changes: register an undo after each step that
 * succeeded; if anything later fails, `fail()` runs them newest first, so a
 * failed create leaves nothing behind. Modelled on Incus's revert package.
 */
import { Logger } from "./log";

export class Reverter {
  private steps: { what: string; undo: () => unknown | Promise<unknown> }[] = [];

  add(what: string, undo: () => unknown | Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  /** The change is complete: forget the undo steps. */
  success(): void {
    this.steps = [];
  }

  /** Runs every undo step, newest first; an undo that fails is logged and the rest still run. */
  async fail(log: Logger): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const s of steps) {
      try {
        await s.undo();
      } catch (e) {
        log.error("undo step failed", { step: s.what, err: (e as Error).message });
      }
    }
  }
}

/** Runs `fn` with a reverter; on a throw, reverts and rethrows. */
export async function withRevert<T>(log: Logger, fn: (r: Reverter) => Promise<T>): Promise<T> {
  const r = new Reverter();
  try {
    const out = await fn(r);
    r.success();
    return out;
  } catch (e) {
    await r.fail(log);
    throw e;
  }
}
