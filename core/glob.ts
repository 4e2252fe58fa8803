/**
 * The one layer-name glob of every command: `inspect --layers` (against the model's module paths
 * and tensor names) and `compare --layers` (against the layer names saved in the runs) match a
 * pattern the same way, so `--layers 'layer1.*'` means the same thing in both.
 *
 * A pattern is a glob when it holds `*`, `?` or `[` ({@linkcode isGlob}). Two kinds:
 *
 * - **Dotted module path** (`layer*`, `layer1.*`, `**.relu`, `layer[12]`): `*` is any run of
 *   characters inside one dot-separated part, `**` any run across parts, `?` one character other
 *   than a dot, `[abc]` / `[a-c]` / `[!abc]` a character class (an unclosed `[` is a literal).
 *   Everything else is literal. The pattern matches a name when it matches the whole name or a
 *   part-aligned suffix of it: `layer1.*` matches `layer1.0` and `backbone.layer1.0`, not
 *   `layer1.0.conv1` (use `layer1.**`) and not `xlayer1.0`.
 * - **ONNX tensor path**, a pattern that starts with `/` (`/backbone/layer1/*`): matched against
 *   the whole name; `*` (and `**`) is any run of characters, `/` and `.` included, `?` any one
 *   character, classes as above.
 *
 * @module
 */

/**
 * Whether `pattern` is a glob (holds `*`, `?` or `[`) rather than a plain name.
 *
 * @example Usage
 * ```ts
 * import { isGlob } from "./glob.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isGlob("layer1.*"), true);
 * assert.equal(isGlob("layer1.0"), false);
 * ```
 */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

const escapeChar = (c: string): string => c.replace(/[.+^${}()|\\/\]]/g, "\\$&");

/**
 * The regular expression of a glob (see the module doc for the two kinds of pattern).
 *
 * @example Usage
 * ```ts
 * import { globToRegExp } from "./glob.ts";
 * import assert from "node:assert/strict";
 * const re = globToRegExp("layer1.*");
 * assert.deepEqual(
 *   ["layer1.0", "backbone.layer1.1", "layer1.0.conv1", "layer10.0"].filter((n) => re.test(n)),
 *   ["layer1.0", "backbone.layer1.1"],
 * );
 * assert.ok(globToRegExp("/backbone/layer1/*").test("/backbone/layer1/layer1.0/Relu_output_0"));
 * ```
 */
export function globToRegExp(pattern: string): RegExp {
  const tensorPath = pattern.startsWith("/");
  const star = tensorPath ? ".*" : "[^.]*";
  const one = tensorPath ? "." : "[^.]";
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += star;
    else if (c === "?") re += one;
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += pattern.slice(i, end + 1).replace(/^\[!/, "[^");
        i = end;
      }
    } else re += escapeChar(c);
  }
  return new RegExp(tensorPath ? `^${re}$` : `(^|\\.)${re}$`);
}

/**
 * Whether `name` matches the glob `pattern` (see the module doc).
 *
 * @example Usage
 * ```ts
 * import { matchesGlob } from "./glob.ts";
 * import assert from "node:assert/strict";
 * assert.equal(matchesGlob("model.backbone.layer4", "layer*"), true);
 * assert.equal(matchesGlob("layer2.1.conv1", "layer2.*"), false);
 * assert.equal(matchesGlob("layer2.1.conv1", "layer2.**"), true);
 * ```
 */
export function matchesGlob(name: string, pattern: string): boolean {
  return globToRegExp(pattern).test(name);
}
