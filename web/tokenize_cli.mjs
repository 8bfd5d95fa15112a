// Test driver (not shipped): `node web/tokenize_cli.mjs LOWERCASE_JSON < texts.jsonl`.
// stdin: one JSON string per line; stdout: one JSON array of tokens per line, same order.
import { readFileSync } from "node:fs";
import { basicEnglish, casingTables } from "./tokenizer.js";

const [tablePath] = process.argv.slice(2);
if (!tablePath) {
  console.error("usage: node web/tokenize_cli.mjs LOWERCASE_JSON < texts.jsonl");
  process.exit(2);
}
const tables = casingTables(JSON.parse(readFileSync(tablePath, "utf8")));
const input = readFileSync(0, "utf8");
const out = [];
for (const line of input.split("\n")) {
  if (line.length === 0) continue;
  out.push(JSON.stringify(basicEnglish(JSON.parse(line), tables)));
}
process.stdout.write(out.join("\n") + "\n");
