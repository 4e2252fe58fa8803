/**
 * The one error type that the command-line tools print as a single clear line.
 *
 * Every problem caused by the user's input (a missing model, a bad flag value, an unreadable
 * clip folder...) is thrown as an {@linkcode InspectorError} whose message says what is wrong
 * and what to do. The scripts print `error: <message>` and exit with {@linkcode InspectorError.exitCode}.
 *
 * Messages speak of the library's options and functions (`pass options.checkpoint with an .onnx
 * file`, `run listLayers()`); the command-line tools print them with the flags that set those
 * (`pass --checkpoint ...`), translated in one place (`scripts/cli_args.ts`, `flagMessage`).
 *
 * @module
 */

/** Error caused by user input, with a message that says what is wrong and what to do. */
export class InspectorError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;

  /**
   * Create an error.
   *
   * @example Usage
   * ```ts
   * import { InspectorError } from "./errors.ts";
   * const err = new InspectorError("model.onnx not found: pass options.checkpoint with an .onnx file");
   * console.log(err.exitCode); // 2
   * ```
   */
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "InspectorError";
    this.exitCode = options.exitCode ?? 2;
  }
}

/**
 * Turn any thrown value into one line a person can act on.
 *
 * Deno permission errors name the missing flag; other unexpected errors keep their message.
 *
 * @example Usage
 * ```ts
 * import { describeError } from "./errors.ts";
 * console.log(describeError(new Error("boom"))); // "boom"
 * ```
 */
export function describeError(err: unknown): string {
  if (err instanceof InspectorError) return err.message;
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    const msg = String((err as Error).message).split("\n")[0];
    return `permission denied: ${msg}. The deno tasks let a command write only inside its ` +
      `--save_dir (a --name or path that leaves it is refused); with deno run, add the flag it names.`;
  }
  if (err instanceof Error) return err.message.split("\n")[0];
  return String(err);
}
