/**
 * `npm run bench [-- --quick] [--only boot,calls] [--no-write] [--no-peer]`
 *
 * Runs the benchmarks one after another on this machine, prints each table
 * as it is measured, and appends the run (machine facts first) to
 * docs/benchmarks.md. Quick mode uses fewer rounds and smaller scales and
 * finishes in minutes; the full run is what docs/benchmarks.md records.
 * A benchmark that fails is reported as failed, with its error, and the
 * others still run; the exit code is 1 if any failed.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { announceAccelerator, REPO } from "../test/fixtures/env";
import { boot } from "./boot";
import { calls } from "./calls";
import { guestSpeed } from "./guest-speed";
import { lab } from "./lab";
import { migration } from "./migration";
import { BenchContext, Benchmark } from "./lib/context";
import { factsTable, machineFacts } from "./lib/machine";
import { Report } from "./lib/report";
import { scale } from "./scale";
import { sharing } from "./sharing";
import { terraform } from "./terraform";

const ALL: Benchmark[] = [boot, calls, guestSpeed, sharing, scale, migration, terraform, lab];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      "no-write": { type: "boolean", default: false },
      "no-peer": { type: "boolean", default: false },
      out: { type: "string", default: path.join(REPO, "docs", "benchmarks.md") },
    },
  });
  const only = values.only?.split(",").map((s) => s.trim());
  const unknown = only?.filter((n) => !ALL.some((b) => b.name === n)) ?? [];
  if (unknown.length) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(", ")}; known: ${ALL.map((b) => b.name).join(", ")}\n`);
    return 2;
  }
  const chosen = ALL.filter((b) => !only || only.includes(b.name));
  const report = new Report();
  const t0 = performance.now();
  const deferred: (() => unknown)[] = [];
  const cleanUp = async () => {
    for (let fn = deferred.pop(); fn; fn = deferred.pop()) {
      try {
        await fn();
      } catch (e) {
        ctx.log(`clean-up step failed: ${(e as Error).message}`);
      }
    }
  };
  // An operation still in flight when a clean-up removed its project may fail with nobody
  // awaiting it any more: say so and carry on with the clean-up.
  process.on("unhandledRejection", (e) => ctx.log(`(ignored after the fact) ${(e as Error).message?.split("\n")[0] ?? String(e)}`));
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      ctx.log(`${sig}: cleaning up before exiting`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  const ctx: BenchContext = {
    defer: (fn) => void deferred.push(fn),
    quick: values.quick,
    peer: !values["no-peer"],
    report,
    log: (m) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0)}s] ${m}\n`),
  };
  announceAccelerator();
  const facts = machineFacts();
  report.heading(`Run of ${facts.date.slice(0, 16).replace("T", " ")} UTC: ${values.quick ? "quick" : "full"} mode, ${chosen.map((b) => b.name).join(", ")}`);
  report.table({ title: "Machine", header: ["fact", "value"], rows: factsTable(facts) });
  const failed: string[] = [];
  for (const b of chosen) {
    report.heading(b.title, 3);
    const s = performance.now();
    try {
      await b.run(ctx);
    } catch (e) {
      failed.push(b.name);
      report.para(`**FAILED**: ${(e as Error).stack ?? String(e)}`.split("\n").slice(0, 6).join("\n    "));
    } finally {
      await cleanUp();
    }
    ctx.log(`${b.name} took ${((performance.now() - s) / 1000).toFixed(0)} s`);
  }
  report.para(`Whole run: ${((performance.now() - t0) / 60_000).toFixed(1)} minutes${failed.length ? `; failed: ${failed.join(", ")}` : ""}.`);
  if (!values["no-write"]) {
    report.appendTo(values.out, "Benchmarks");
    ctx.log(`appended to ${values.out}`);
  }
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
