// The input rule of the page (page/inputs.py, input_problem), for the widget: which texts get no
// answer, and why. The same codes, checked in the same order, on the same tokens:
//   "empty"           the tokenizer finds nothing (only quotes, colons, semicolons)
//   "not_english"     most letters are not Latin (Korean, Cyrillic, Greek, ...)
//   "numbers_only"    no token has a letter (numbers, punctuation, symbols)
//   "no_known_words"  no token with a letter is in the vocabulary
// null: the text can be read. tests/test_input_rule.py runs both on the same inputs.

export const INPUT_PROBLEMS = ["empty", "not_english", "numbers_only", "no_known_words"];

const LETTER = /^\p{L}$/u; // Python's str.isalpha(): categories Lu, Ll, Lt, Lm, Lo
const LATIN = /^[A-Za-z\u00C0-\u024F]$/; // page/inputs.py's NON_LATIN, turned round
const PAD_ID = 0;

const isLetter = (ch) => LETTER.test(ch);
const hasLetter = (token) => Array.from(token).some(isLetter);

/** True when most letters of the text are not Latin: the models only ever read English. */
export function notEnglish(text) {
  let letters = 0;
  let other = 0;
  for (const ch of text) { // code points, as Python iterates a str
    if (!isLetter(ch)) continue;
    letters += 1;
    if (!LATIN.test(ch)) other += 1;
  }
  return letters > 0 && other > letters / 2;
}

/** Why the text gets no answer (a code of INPUT_PROBLEMS), or null; tokens and ids from Tokenizer.encode. */
export function inputProblem(text, tokens, ids, unkId = 1) {
  if (!tokens.length) return "empty";
  if (notEnglish(text)) return "not_english";
  const words = tokens.map((token, i) => [token, ids[i]]).filter(([token]) => hasLetter(token));
  if (!words.length) return "numbers_only";
  if (words.every(([, id]) => id === PAD_ID || id === unkId)) return "no_known_words";
  return null;
}
