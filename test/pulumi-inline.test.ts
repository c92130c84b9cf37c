/**
 * scripts/pulumi-inline.js hands the CLI every argument unchanged and exits
 * with the CLI's exit code, adding nothing to its output. The `pulumi` here is
 * a stand-in that records its argv and exits as told: what the real CLI then
 * does with the flags is the real CLI's (test/own-project.test.ts runs preview
 * --diff, --refresh, up --yes --target, refresh --diff and destroy for real).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { NODE, REPO } from "./fixtures/env";

const INLINE = path.join(REPO, "scripts", "pulumi-inline.js");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync("/tmp/pkvm-inline-");
  // Records each argument on a line of its own, then exits with $FAKE_EXIT.
  writeFileSync(path.join(dir, "pulumi"), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "$FAKE_ARGS"\necho "pulumi says hello"\nexit "$FAKE_EXIT"\n`);
  chmodSync(path.join(dir, "pulumi"), 0o755);
  writeFileSync(path.join(dir, "index.js"), "exports.x = 1;\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function inline(args: string[], exit: number) {
  const argsFile = path.join(dir, "args");
  const r = spawnSync(NODE, [INLINE, ...args], {
    // The project's @pulumi/pulumi is the repo's (resolved from the working directory's node_modules).
    cwd: REPO,
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_ARGS: argsFile, FAKE_EXIT: String(exit) },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, argv: readFileSync(argsFile, "utf8").split("\n").slice(0, -1) };
}

const FLAGS = [
  "--diff", "--refresh", "--target", "urn:pulumi:dev::p::pulumi-nodejs:dynamic/kvm:Vm::web", "--target-dependents",
  "--replace", "urn:a", "--replace", "urn:b", "--expect-no-changes", "--json", "--parallel", "4", "--skip-preview", "--yes",
  "--stack", "dev", "--message", "two words",
];

test.each(["up", "preview", "refresh", "destroy"])("%s: every flag reaches the CLI unchanged and in order, then the language runtime's address", (cmd) => {
  const r = inline([cmd, ...FLAGS, "--program", path.join(dir, "index.js")], 0);
  expect(r.code).toBe(0);
  expect(r.argv.slice(0, FLAGS.length + 1)).toEqual([cmd, ...FLAGS]);
  expect(r.argv.slice(FLAGS.length + 1)).toEqual([expect.stringMatching(/^--client=127\.0\.0\.1:\d+$/), "--exec-kind", "auto.inline"]);
  expect(r.stdout).toBe("pulumi says hello\n");
  expect(r.stderr).toBe("");
});

test("the CLI's exit code is the exit code, with nothing added to the output", () => {
  for (const code of [1, 2, 255]) {
    const r = inline(["preview", "--expect-no-changes", "--program", path.join(dir, "index.js")], code);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe("pulumi says hello\n");
    expect(r.stderr).toBe("");
  }
});

test("commands that do not run the program go to the CLI as they are, without a language runtime", () => {
  const r = inline(["stack", "output", "--json", "--show-secrets"], 0);
  expect(r.argv).toEqual(["stack", "output", "--json", "--show-secrets"]);
});

test("values after -- stay values: the runtime's flags go before it", () => {
  const r = inline(["up", "--yes", "--program", path.join(dir, "index.js"), "--", "--diff"], 0);
  expect(r.argv[0]).toBe("up");
  expect(r.argv.slice(-2)).toEqual(["--", "--diff"]);
  expect(r.argv).toContain("--exec-kind");
});
