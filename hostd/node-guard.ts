/**
 * Imported first by cli.ts, before anything that loads `node:sqlite`: on a Node
 * without it, hostd stops with the version it needs instead of Node's
 * ERR_UNKNOWN_BUILTIN_MODULE. Kept free of imports so that it runs on any Node.
 */

/** node:sqlite is built in, without a flag, from Node 22.13 (and 23.4). */
export const MIN_NODE = [22, 13] as const;

export function nodeTooOld(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  if (major === 23) return minor < 4;
  return major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1]);
}

if (nodeTooOld(process.versions.node)) {
  process.stderr.write(
    `hostd: this is Node ${process.versions.node} (${process.execPath}); hostd needs Node >= ${MIN_NODE.join(".")} for its built-in node:sqlite. ` +
      `Run it with a newer node (for example the Node 24 the quick start puts in .cache/node/bin), or run \`hostd install\` with that node so the installed hostd command uses it.\n`,
  );
  process.exit(1);
}
