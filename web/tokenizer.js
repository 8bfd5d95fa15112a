// basic_english in the browser: the same output as rnn_demo/tokenizer.py (Python 3.11) on any text.
//
// Python's rules, in order, after str.lower():
//   '  -> " '  "     "  -> ""      .  -> " . "    <br />  -> " "    ,  -> " , "
//   (  -> " ( "      )  -> " ) "   !  -> " ! "    ?  -> " ? "       ;  -> " "    :  -> " "
//   \s+ -> " ", then str.split()
// Two places where JavaScript's built-ins differ from Python's and are therefore not used:
//  * `\s`: JS matches U+FEFF and not U+001C-U+001F / U+0085, Python's `\s` (= str.isspace) the
//    other way round; PY_WHITESPACE below is Python's exact set (a test compares it).
//  * toLowerCase() and \p{Cased}: they follow the engine's Unicode version, not Python's
//    (measured: 307 code points decide the final sigma differently in Node 20). So Python's
//    tables ship as data (`lowercase.json`, written by export/web.py from str.lower itself):
//    the per-character lower-case mapping, and the cased / case-ignorable code points that
//    decide the capital sigma's context (final 'ς' vs 'σ', the Unicode Final_Sigma rule).
// Vocabulary lookups use a Map, so words such as "__proto__" or "constructor" are plain keys.

export const PY_WHITESPACE =
  "\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004" +
  "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

const WHITESPACE_RUN = new RegExp(`[${PY_WHITESPACE}]+`, "gu");
const CAPITAL_SIGMA = "\u03a3";

/** Python's casing tables from lowercase.json: {lower: {char: lowered}, cased, case_ignorable}
 *  (the last two as sorted [first, last] code point ranges). */
export function casingTables(json) {
  const ranges = (pairs) => Int32Array.from(pairs.flat());
  return { lower: new Map(Object.entries(json.lower)), cased: ranges(json.cased),
           ignorable: ranges(json.case_ignorable) };
}

// flat = [first0, last0, first1, last1, ...], sorted: binary search for the range holding code.
function inRanges(flat, code) {
  let lo = 0;
  let hi = flat.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (code < flat[2 * mid]) hi = mid - 1;
    else if (code > flat[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

// [pattern, replacement] applied in this order with split/join (literal, no regex semantics).
const RULES = [
  ["'", " '  "], ['"', ""], [".", " . "], ["<br />", " "], [",", " , "], ["(", " ( "],
  [")", " ) "], ["!", " ! "], ["?", " ? "], [";", " "], [":", " "],
];

/** Python's str.lower(), given Python's tables (see casingTables). */
export function pyLower(text, tables) {
  const chars = Array.from(text); // code points, so astral letters (e.g. Deseret) map whole
  let out = "";
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    const code = ch.codePointAt(0);
    if (code < 0x80) {
      out += code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : ch;
    } else if (ch === CAPITAL_SIGMA) {
      out += isFinalSigma(chars, i, tables) ? "\u03c2" : "\u03c3";
    } else {
      const mapped = tables.lower.get(ch);
      out += mapped === undefined ? ch : mapped;
    }
  }
  return out;
}

// Final_Sigma: preceded by a cased letter (skipping case-ignorables) and not followed by one.
function isFinalSigma(chars, i, tables) {
  const ignorable = (ch) => inRanges(tables.ignorable, ch.codePointAt(0));
  const cased = (ch) => inRanges(tables.cased, ch.codePointAt(0));
  let j = i - 1;
  while (j >= 0 && ignorable(chars[j])) j--;
  if (j < 0 || !cased(chars[j])) return false;
  let k = i + 1;
  while (k < chars.length && ignorable(chars[k])) k++;
  return k === chars.length || !cased(chars[k]);
}

/** Tokens of one line, exactly as torchtext's basic_english (see rnn_demo/tokenizer.py). */
export function basicEnglish(text, tables) {
  let line = pyLower(text, tables);
  for (const [pattern, replacement] of RULES) line = line.split(pattern).join(replacement);
  line = line.replace(WHITESPACE_RUN, " ");
  return line.split(" ").filter((t) => t.length > 0);
}

/** A tokenizer bound to one vocabulary: tokens, ids (unknown words -> unkId) and known flags. */
export class Tokenizer {
  constructor(tokens, tables, unkId = 1) {
    this.index = new Map(tokens.map((t, i) => [t, i]));
    this.tables = tables; // from casingTables()
    this.unkId = unkId;
  }

  tokenize(text) {
    return basicEnglish(text, this.tables);
  }

  encode(text) {
    const tokens = this.tokenize(text);
    const ids = tokens.map((t) => (this.index.has(t) ? this.index.get(t) : this.unkId));
    return { tokens, ids, known: ids.map((id) => id !== this.unkId) };
  }
}
