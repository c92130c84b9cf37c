/**
 * Benchmark output: every figure is printed as a Markdown table the moment it
 * is measured, and the whole run (machine facts first) is appended to
 * docs/benchmarks.md at the end, so the document only ever holds real runs.
 */
import { appendFileSync, existsSync, writeFileSync } from "node:fs";

export interface Table {
  title: string;
  header: string[];
  rows: (string | number)[][];
  /** Sentences under the table: what was measured, targets, why a target is missed. */
  notes?: string[];
}

export class Report {
  private readonly parts: string[] = [];

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  heading(text: string, level = 2): void {
    this.emit(`${"#".repeat(level)} ${text}\n`);
  }

  para(text: string): void {
    this.emit(`${text}\n`);
  }

  table(t: Table): void {
    const lines = [`**${t.title}**`, "", `| ${t.header.join(" | ")} |`, `| ${t.header.map(() => "---").join(" | ")} |`];
    for (const r of t.rows) lines.push(`| ${r.map((c) => String(c).replace(/\|/g, "\\|")).join(" | ")} |`);
    if (t.notes?.length) lines.push("", ...t.notes.map((n) => `- ${n}`));
    this.emit(lines.join("\n") + "\n");
  }

  /** Appends everything reported so far to `file` (created with a title if missing). */
  appendTo(file: string, title: string): void {
    if (!existsSync(file)) writeFileSync(file, `# ${title}\n\n`);
    appendFileSync(file, "\n" + this.parts.join("\n") + "\n");
  }

  private emit(block: string): void {
    this.parts.push(block);
    this.out.write(block + "\n");
  }
}
