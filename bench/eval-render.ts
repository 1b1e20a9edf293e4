// Render a saved `kcarve eval --format json` result as the Markdown figure file of
// bench/results (with the command that produced it) and, optionally, the HTML report.
// Not a test. Run:
//   npx tsx bench/eval-render.ts RESULT.json OUT.md [--report OUT.html] [--command "kcarve eval ..."]
import { readFileSync, writeFileSync } from 'node:fs';
import { renderEval } from '../src/eval/format.js';
import { writeEvalReport } from '../src/eval/report-html.js';
import type { EvalResult } from '../src/eval/run-eval.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const [input, output] = args;
if (input === undefined || output === undefined) {
  process.stderr.write('usage: npx tsx bench/eval-render.ts RESULT.json OUT.md [--report OUT.html] [--command TEXT]\n');
  process.exit(1);
}
const result = JSON.parse(readFileSync(input, 'utf8')) as EvalResult;
const command = opt('--command');
const head = command === undefined ? '' : `Command:\n\n\`\`\`\n${command}\n\`\`\`\n\n`;
writeFileSync(output, `${head}${renderEval(result, 'md')}`);
const report = opt('--report');
if (report !== undefined) await writeEvalReport(result, report);
