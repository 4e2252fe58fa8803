/**
 * Refuse special files before opening them: opening a FIFO for reading blocks until something
 * writes to it (every tool hung), and a device such as `/dev/zero` reads without end. Each
 * reader stats its input first ({@linkcode statRegularFile}) and stops with one line.
 *
 * @module
 */

import { InspectorError } from "./errors.ts";

/**
 * What a stat result is when it is neither a regular file nor a folder (`"a FIFO"`,
 * `"a character device"` ...); `null` for regular files and folders.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { specialFileKind } from "./regular_file.ts";
 * assert.equal(specialFileKind(Deno.statSync("/dev/null")), "a character device");
 * assert.equal(specialFileKind(Deno.statSync(".")), null);
 * ```
 */
export function specialFileKind(info: Deno.FileInfo): string | null {
  if (info.isFile || info.isDirectory) return null;
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "a special file";
}

function refuse(path: string, kind: string, hint: string): never {
  throw new InspectorError(`${path} is not a regular file (${kind}): ${hint}`);
}

/**
 * Stat `path` (following links) and throw an {@linkcode InspectorError}
 * `<path> is not a regular file (a FIFO): <hint>` when it is a FIFO, device or socket. Folders
 * pass (callers word those themselves); stat's own errors (`NotFound` ...) are thrown as they are.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { statRegularFile } from "./regular_file.ts";
 * await assert.rejects(
 *   statRegularFile("/dev/zero", "pass options.checkpoint with an .onnx file"),
 *   /^InspectorError: \/dev\/zero is not a regular file \(a character device\): pass options/,
 * );
 * assert.ok((await statRegularFile("deno.json", "")).isFile);
 * ```
 */
export async function statRegularFile(path: string, hint: string): Promise<Deno.FileInfo> {
  const info = await Deno.stat(path);
  const kind = specialFileKind(info);
  if (kind !== null) refuse(path, kind, hint);
  return info;
}

/**
 * {@linkcode statRegularFile}, synchronously.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { statRegularFileSync } from "./regular_file.ts";
 * assert.throws(() => statRegularFileSync("/dev/zero", "pass a file"), /not a regular file/);
 * ```
 */
export function statRegularFileSync(path: string, hint: string): Deno.FileInfo {
  const info = Deno.statSync(path);
  const kind = specialFileKind(info);
  if (kind !== null) refuse(path, kind, hint);
  return info;
}
