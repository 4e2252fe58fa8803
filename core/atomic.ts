/**
 * Atomic output: files appear whole or not at all.
 *
 * An {@linkcode OutputSet} hands out temporary paths next to the final ones; `commit()` renames
 * them all into place, `abort()` removes them (and the output folder when this run created it).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { InspectorError } from "./errors.ts";

/**
 * Make sure Deno may write to `dir`: granted already, or asked for on an interactive terminal
 * (Deno's own prompt), or else one clear error that names the flag to add.
 *
 * @example Usage
 * ```ts ignore
 * import { ensureWritePermission } from "./atomic.ts";
 * await ensureWritePermission("out");
 * ```
 */
export async function ensureWritePermission(dir: string): Promise<void> {
  const desc = { name: "write", path: dir } as const;
  let state = (await Deno.permissions.query(desc)).state;
  if (state === "prompt" && Deno.stdin.isTerminal()) {
    state = (await Deno.permissions.request(desc)).state;
  }
  if (state !== "granted") {
    throw new InspectorError(
      `Deno may not write to --save_dir ${dir}: run the command as a deno task ` +
        `(deno task inspect|analyze|compare, which may write exactly its --save_dir), or add ` +
        `--allow-write=${dir} to deno run`,
    );
  }
}

/** A set of files written under temporary names and renamed into place together. */
export class OutputSet {
  /** The output folder. */
  readonly dir: string;
  #pending = new Map<string, string>();
  #createdDir = false;

  private constructor(dir: string, createdDir: boolean) {
    this.dir = dir;
    this.#createdDir = createdDir;
  }

  /**
   * Create (if needed) and check the output folder.
   *
   * @example Usage
   * ```ts ignore
   * import { OutputSet } from "./atomic.ts";
   * const out = await OutputSet.open("out");
   * await out.writeFile("summary.json", new TextEncoder().encode("{}"));
   * await out.commit();
   * ```
   */
  static async open(dir: string): Promise<OutputSet> {
    await ensureWritePermission(dir);
    let created = false;
    try {
      const st = await Deno.stat(dir);
      if (!st.isDirectory) {
        throw new InspectorError(
          `options.saveDir ${dir} exists and is not a folder: choose another path`,
        );
      }
    } catch (err) {
      if (err instanceof InspectorError) throw err;
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      try {
        await Deno.mkdir(dir, { recursive: true });
        created = true;
      } catch (e) {
        throw new InspectorError(
          `cannot create options.saveDir ${dir} (${(e as Error).message.split("\n")[0]}): ` +
            `choose a writable folder`,
        );
      }
    }
    // Probe that we can write there.
    const probe = join(dir, `.write_probe.${Deno.pid}.tmp`);
    try {
      await Deno.writeFile(probe, new Uint8Array());
      await Deno.remove(probe);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        if (created) await Deno.remove(dir).catch(() => {});
        const m = (e as Error).message.split("\n")[0];
        throw new InspectorError(
          `cannot write to options.saveDir ${dir} (${m}): make it writable or choose another folder` +
            (e instanceof Deno.errors.NotCapable ? ` (Deno needs --allow-write=${dir})` : ""),
        );
      }
      throw e;
    }
    return new OutputSet(dir, created);
  }

  /** Temporary path for `name` (a file name inside the folder); registered for commit. */
  tempPath(name: string): string {
    const final = join(this.dir, name);
    const tmp = `${final}.${Deno.pid}.tmp`;
    this.#pending.set(final, tmp);
    return tmp;
  }

  /** Write `bytes` to `name` under a temporary path. */
  async writeFile(name: string, bytes: Uint8Array): Promise<void> {
    const tmp = this.tempPath(name);
    await Deno.mkdir(dirname(tmp), { recursive: true });
    await Deno.writeFile(tmp, bytes);
  }

  /** Register a file some other writer creates at its own temporary path. */
  adopt(finalPath: string, tmpPath: string): void {
    this.#pending.set(finalPath, tmpPath);
  }

  /** Final paths of the files written so far. */
  get files(): string[] {
    return [...this.#pending.keys()];
  }

  /** Rename every temporary file into place. */
  async commit(): Promise<string[]> {
    const done: string[] = [];
    for (const [final, tmp] of this.#pending) {
      await Deno.rename(tmp, final);
      done.push(final);
    }
    this.#pending.clear();
    return done;
  }

  /** Remove every temporary file, and the folder if this run created it and it is empty. */
  async abort(): Promise<void> {
    for (const tmp of this.#pending.values()) await Deno.remove(tmp).catch(() => {});
    this.#pending.clear();
    if (this.#createdDir) await Deno.remove(this.dir).catch(() => {});
  }
}
