import { readFileSync } from "node:fs";
import * as path from "node:path";
import { EVENTS } from "../sdk/protocol/events";
import { inRequest, Logger, type Entry } from "./log";

function capture(): { log: Logger; entries: Entry[] } {
  const entries: Entry[] = [];
  const log = new Logger({ svc: "t" }, "debug", () => undefined);
  log.tap((e) => entries.push(e));
  return { log, entries };
}

test("lines written while a request runs carry its id and caller, even through the root logger and awaits", async () => {
  const { log, entries } = capture();
  await inRequest({ req: "r1.abc", uid: 1000, done: false }, async () => {
    await new Promise((r) => setImmediate(r));
    log.info("inside", { vm: "a" });
  });
  log.info("outside");
  expect(entries[0]).toMatchObject({ msg: "inside", req: "r1.abc", uid: 1000 });
  expect(entries[1]).not.toHaveProperty("req");
});

test("a callback a request left behind does not log as that request once it is answered", async () => {
  const { log, entries } = capture();
  let later: () => void = () => undefined;
  await inRequest({ req: "r2.abc", done: false }, async () => {
    later = () => log.info("exit watcher");
    const t = setTimeout(() => undefined, 0);
    clearTimeout(t);
  });
  // The same async context, but the request is done.
  await new Promise<void>((resolve) => setTimeout(() => (later(), resolve()), 0));
  expect(entries[0]).toMatchObject({ msg: "exit watcher" });
  expect(entries[0]).not.toHaveProperty("req");
});

test("an event is written with its declared message, object key and kind", () => {
  const { log, entries } = capture();
  log.event("vm.exited", "web", { pid: 7, reason: "killed" }, "warn");
  expect(entries[0]).toMatchObject({ level: "warn", msg: EVENTS["vm.exited"].message, vm: "web", event: "vm.exited", pid: 7, reason: "killed" });
});

test("every declared event names a known object and has a message and a doc", () => {
  for (const [kind, d] of Object.entries(EVENTS)) {
    expect(kind.startsWith(`${d.object}.`)).toBe(true);
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.doc.length).toBeGreaterThan(0);
  }
});

test("docs/architecture.md lists every declared event kind", () => {
  const doc = readFileSync(path.join(__dirname, "..", "docs", "architecture.md"), "utf8");
  const missing = Object.keys(EVENTS).filter((k) => !doc.includes(`\`${k}\``));
  expect(missing).toEqual([]);
});
