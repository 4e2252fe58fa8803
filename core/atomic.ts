/**
 * Atomic output: a run's files appear together, whole, or not at all.
 *
 * An {@linkcode OutputSet} writes every file under a temporary name next to the final one:
 * created exclusively (never through a planted link) with an unpredictable name,
 * `<final>.<pid>.<16 hex digits>.tmp`. `commit()` moves them all into place as one unit: under
 * an exclusive lock file in the folder ({@linkcode LOCK_NAME}, which also journals the commit),
 * the files marked `last` (the manifest) after all others; a failure part way restores every file
 * already replaced and removes the ones it added, and a run killed part way is rolled back by the
 * next run into the folder. `abort()` removes the temporary files (and the output folder when
 * this run created it); {@linkcode abortAllOutputs} does that for every open set (on a signal).
 * Opening a set sweeps the temporary files that dead processes left behind.
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { createHash } from "node:crypto";
import { InspectorError } from "./errors.ts";

/** The lock file held in an output folder while a run moves its files into place. */
export const LOCK_NAME = ".feature-inspector.lock";

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

/** Size and SHA-256 (hex) of a file. */
export interface FileChecksum {
  /** Bytes. */
  size: number;
  /** SHA-256, lowercase hex. */
  sha256: string;
}

/** Options of {@linkcode OutputSet.open}. */
export interface OutputSetOptions {
  /** How long `commit()` waits for another run's lock on the folder (default 30 s). */
  lockWaitMs?: number;
}

/** Temporary names: `<final>.<pid>.<16 hex>.tmp`; earlier versions wrote `<final>.<pid>.tmp`. */
const TEMP_NAME = /^.+\.(\d+)\.[0-9a-f]{16}\.tmp$/;
const OLD_TEMP_NAME = /^.+\.(\d+)\.tmp$/;

/** Temporary files of this process not yet renamed or removed. */
const liveTemps = new Set<string>();
/** Output sets of this process neither committed nor aborted. */
const liveSets = new Set<OutputSet>();

function randomHex(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split("\n")[0];

function removeQuietly(path: string): boolean {
  try {
    Deno.removeSync(path);
    return true;
  } catch {
    return false;
  }
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/**
 * Create a temporary file for `finalPath` exclusively (it fails rather than open an existing
 * file or follow a link), under an unpredictable name; it is registered so that
 * {@linkcode abortAllOutputs} removes it. Call {@linkcode releaseTemp} once it is renamed.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTempFile, releaseTemp } from "./atomic.ts";
 * const dir = Deno.makeTempDirSync();
 * const t = createTempFile(`${dir}/a.txt`);
 * assert.match(t.path, /a\.txt\.\d+\.[0-9a-f]{16}\.tmp$/);
 * t.file.close();
 * Deno.renameSync(t.path, `${dir}/a.txt`);
 * releaseTemp(t.path);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function createTempFile(finalPath: string): { path: string; file: Deno.FsFile } {
  for (let attempt = 0;; attempt++) {
    const path = `${finalPath}.${Deno.pid}.${randomHex()}.tmp`;
    try {
      const file = Deno.openSync(path, { read: true, write: true, createNew: true });
      liveTemps.add(path);
      return { path, file };
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists) || attempt >= 4) throw err;
    }
  }
}

/**
 * Forget a temporary file of {@linkcode createTempFile} (it was renamed into place or removed).
 *
 * @example Usage
 * ```ts
 * import { releaseTemp } from "./atomic.ts";
 * releaseTemp("/nowhere/a.txt.1.0123456789abcdef.tmp"); // unknown paths are ignored
 * ```
 */
export function releaseTemp(path: string): void {
  liveTemps.delete(path);
}

/**
 * Remove every temporary file of this process and abort every open {@linkcode OutputSet}, at
 * once (synchronously: for a signal handler that exits next). Returns how many files it removed.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { abortAllOutputs, createTempFile } from "./atomic.ts";
 * const dir = Deno.makeTempDirSync();
 * createTempFile(`${dir}/a.txt`).file.close();
 * assert.equal(abortAllOutputs(), 1);
 * assert.deepEqual([...Deno.readDirSync(dir)], []);
 * Deno.removeSync(dir);
 * ```
 */
export function abortAllOutputs(): number {
  let removed = 0;
  for (const set of [...liveSets]) removed += set.abortSync();
  for (const tmp of [...liveTemps]) {
    if (removeQuietly(tmp)) removed++;
    liveTemps.delete(tmp);
  }
  return removed;
}

/**
 * Whether process `pid` is alive: true, false, or null when this system cannot tell (no
 * `/proc`, or no permission to read it).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { processAlive } from "./atomic.ts";
 * if (processAlive(Deno.pid) !== null) assert.equal(processAlive(Deno.pid), true);
 * ```
 */
export function processAlive(pid: number): boolean | null {
  try {
    Deno.statSync("/proc/self");
  } catch {
    return null;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (err) {
    return err instanceof Deno.errors.NotFound ? false : null;
  }
}

/** Age after which a temporary file counts as left behind when liveness cannot be checked. */
export const STALE_TEMP_MS = 24 * 3600_000;
/** Age after which a commit lock counts as left behind when liveness cannot be checked. */
export const STALE_LOCK_MS = 3600_000;

function olderThan(path: string, ms: number): boolean {
  try {
    const t = Deno.lstatSync(path).mtime?.getTime();
    return t !== undefined && Date.now() - t > ms;
  } catch {
    return false;
  }
}

/**
 * Remove the temporary files that processes no longer alive left in `dir` (files named as
 * {@linkcode createTempFile} names them, or as earlier versions did). Returns the names removed.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepStaleTemps } from "./atomic.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/notes.txt`, "mine");
 * sweepStaleTemps(dir);
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["notes.txt"]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function sweepStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed;
  }
  for (const e of entries) {
    if (!e.isFile && !e.isSymlink) continue;
    const m = TEMP_NAME.exec(e.name) ?? OLD_TEMP_NAME.exec(e.name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === Deno.pid) continue;
    const alive = processAlive(pid);
    // Without /proc (Deno lets only --allow-all read it, so the tasks' commands cannot), a
    // temporary file counts as left behind once nobody has touched it for STALE_TEMP_MS.
    if (alive === true || (alive === null && !olderThan(join(dir, e.name), STALE_TEMP_MS))) {
      continue;
    }
    if (removeQuietly(join(dir, e.name))) removed.push(e.name);
  }
  return removed;
}

/**
 * Size and SHA-256 of a file, read in 1 MiB pieces (bounded memory whatever its size).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileChecksum } from "./atomic.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "abc");
 * const c = await fileChecksum(path);
 * assert.deepEqual(c, {
 *   size: 3,
 *   sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
 * });
 * Deno.removeSync(path);
 * ```
 */
export async function fileChecksum(path: string): Promise<FileChecksum> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  let size = 0;
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    size += n;
  }
  return { size, sha256: hash.digest("hex") };
}

/** One file of a commit, as journaled in the lock file. */
interface JournalEntry {
  /** Final name inside the folder. */
  final: string;
  /** Temporary name inside the folder. */
  tmp: string;
  /** Where the file it replaces was kept (a hard link, or moved aside), or null. */
  backup: string | null;
}

interface LockRecord {
  pid: number;
  files: JournalEntry[];
}

function readLock(path: string): { record: LockRecord | null; mtime: number } | null {
  let text: string, mtime: number;
  try {
    mtime = Deno.lstatSync(path).mtime?.getTime() ?? 0;
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  try {
    const json = JSON.parse(text);
    if (typeof json?.pid === "number" && Array.isArray(json.files)) {
      return { record: json as LockRecord, mtime };
    }
  } catch { /* written only in part */ }
  return { record: null, mtime };
}

/** Undo what a commit journaled in `record` did (it did not finish). */
function rollBack(dir: string, files: readonly JournalEntry[]): void {
  for (const e of [...files].reverse()) {
    const final = join(dir, e.final), tmp = join(dir, e.tmp);
    if (e.backup && lstatOrNull(join(dir, e.backup))) {
      Deno.renameSync(join(dir, e.backup), final);
    } else if (!e.backup && !lstatOrNull(tmp)) {
      // Renamed into place where nothing was before: take it away again.
      const st = lstatOrNull(final);
      if (st && !st.isDirectory) Deno.removeSync(final);
    }
    removeQuietly(tmp);
  }
}

/** A lock left by a process that is gone (or a lock file never completed): roll its commit back. */
function recoverStaleLock(dir: string): boolean {
  const path = join(dir, LOCK_NAME);
  const lock = readLock(path);
  if (!lock) return true;
  if (lock.record) {
    const pid = lock.record.pid;
    const alive = pid === Deno.pid ? false : processAlive(pid);
    if (alive === true || (alive === null && Date.now() - lock.mtime < STALE_LOCK_MS)) return false;
    rollBack(dir, lock.record.files);
  } else if (Date.now() - lock.mtime < 10_000) {
    return false; // being written just now
  }
  removeQuietly(path);
  return true;
}

function fileIdentity(path: string): string {
  const st = lstatOrNull(path);
  return st
    ? `${st.isDirectory ? "d" : "f"}:${st.ino}:${st.size}:${st.mtime?.getTime()}`
    : "absent";
}

interface Pending {
  tmp: string;
  last: boolean;
  checksum: FileChecksum | null;
}

/** A set of files written under temporary names and moved into place together. */
export class OutputSet {
  /** The output folder. */
  readonly dir: string;
  #pending = new Map<string, Pending>();
  #createdDir = false;
  #lockWaitMs: number;
  /** What each file of the folder was when the set was opened (to notice concurrent runs). */
  #seen = new Map<string, string>();

  private constructor(dir: string, createdDir: boolean, options: OutputSetOptions) {
    this.dir = dir;
    this.#createdDir = createdDir;
    this.#lockWaitMs = options.lockWaitMs ?? 30_000;
    try {
      for (const e of Deno.readDirSync(dir)) {
        this.#seen.set(e.name, fileIdentity(join(dir, e.name)));
      }
    } catch { /* checked again at commit */ }
  }

  /**
   * Create (if needed) and check the output folder; roll back a commit a killed run left
   * unfinished and sweep the temporary files of dead processes.
   *
   * @example Usage
   * ```ts ignore
   * import { OutputSet } from "./atomic.ts";
   * const out = await OutputSet.open("out");
   * await out.writeFile("summary.json", new TextEncoder().encode("{}"));
   * await out.commit();
   * ```
   */
  static async open(dir: string, options: OutputSetOptions = {}): Promise<OutputSet> {
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
          `cannot create options.saveDir ${dir} (${firstLine(e)}): choose a writable folder`,
        );
      }
    }
    // Probe that we can write there.
    try {
      const probe = createTempFile(join(dir, ".write_probe"));
      probe.file.close();
      Deno.removeSync(probe.path);
      releaseTemp(probe.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        if (created) await Deno.remove(dir).catch(() => {});
        throw new InspectorError(
          `cannot write to options.saveDir ${dir} (${firstLine(e)}): make it writable or choose ` +
            `another folder` +
            (e instanceof Deno.errors.NotCapable ? ` (Deno needs --allow-write=${dir})` : ""),
        );
      }
      throw e;
    }
    if (!created) {
      try {
        recoverStaleLock(dir);
      } catch { /* commit() says so */ }
      sweepStaleTemps(dir);
    }
    const set = new OutputSet(dir, created, options);
    liveSets.add(set);
    return set;
  }

  #register(final: string, tmp: string, last: boolean, checksum: FileChecksum | null): void {
    const old = this.#pending.get(final);
    if (old && old.tmp !== tmp) {
      removeQuietly(old.tmp);
      releaseTemp(old.tmp);
    }
    this.#pending.set(final, { tmp, last, checksum });
  }

  /**
   * A new, empty temporary file for `name` (a file name inside the folder), created exclusively
   * and registered for commit; returns its path.
   */
  tempPath(name: string, options: { last?: boolean } = {}): string {
    const final = join(this.dir, name);
    Deno.mkdirSync(dirname(final), { recursive: true });
    const t = createTempFile(final);
    t.file.close();
    this.#register(final, t.path, options.last ?? false, null);
    return t.path;
  }

  /**
   * Write `bytes` to `name` under a temporary path; `options.last`: move it into place after
   * all the other files (the manifest that lists them).
   */
  async writeFile(
    name: string,
    bytes: Uint8Array,
    options: { last?: boolean } = {},
  ): Promise<void> {
    const final = join(this.dir, name);
    Deno.mkdirSync(dirname(final), { recursive: true });
    const t = createTempFile(final);
    try {
      let done = 0;
      while (done < bytes.length) done += await t.file.write(bytes.subarray(done));
    } catch (err) {
      t.file.close();
      removeQuietly(t.path);
      releaseTemp(t.path);
      throw err;
    }
    t.file.close();
    const checksum = {
      size: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("hex"),
    };
    this.#register(final, t.path, options.last ?? false, checksum);
  }

  /** Register a file some other writer created at its own temporary path (inside the folder). */
  adopt(finalPath: string, tmpPath: string): void {
    this.#register(finalPath, tmpPath, false, null);
  }

  /** Final paths of the files written so far. */
  get files(): string[] {
    return [...this.#pending.keys()];
  }

  /** Size and SHA-256 of every file written so far, by name inside the folder. */
  async checksums(): Promise<Record<string, FileChecksum>> {
    const out: Record<string, FileChecksum> = {};
    for (const [final, p] of this.#pending) {
      p.checksum ??= await fileChecksum(p.tmp);
      out[this.#rel(final)] = p.checksum;
    }
    return out;
  }

  async #lock(): Promise<Deno.FsFile> {
    const path = join(this.dir, LOCK_NAME);
    const deadline = Date.now() + this.#lockWaitMs;
    for (;;) {
      try {
        const f = Deno.openSync(path, { write: true, createNew: true });
        f.writeSync(new TextEncoder().encode(JSON.stringify({ pid: Deno.pid, files: [] })));
        return f;
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists)) {
          throw new InspectorError(
            `cannot lock options.saveDir ${this.dir} (${firstLine(err)}): make it writable`,
          );
        }
      }
      let recovered: boolean;
      try {
        recovered = recoverStaleLock(this.dir);
      } catch (err) {
        throw new InspectorError(
          `cannot roll back the unfinished commit that ${LOCK_NAME} in options.saveDir ` +
            `${this.dir} records (${firstLine(err)}): check the folder, then remove ${LOCK_NAME}`,
        );
      }
      if (recovered) continue;
      if (Date.now() > deadline) {
        const pid = readLock(path)?.record?.pid;
        throw new InspectorError(
          `options.saveDir ${this.dir} is being written by another run` +
            `${pid ? ` (process ${pid})` : ""}, which holds ${LOCK_NAME}: let it finish, or ` +
            `choose another folder`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Move every temporary file into place, as one unit: on any failure, the files already
   * replaced are restored, the new ones removed, and nothing of this run is left in the folder.
   */
  async commit(): Promise<string[]> {
    const lock = await this.#lock();
    let result: { done: string[]; backups: string[] };
    try {
      result = this.#commitLocked(lock);
    } finally {
      // The commit point: once the lock is gone, a later run no longer rolls this commit back.
      lock.close();
      removeQuietly(join(this.dir, LOCK_NAME));
    }
    for (const b of result.backups) removeQuietly(b);
    return result.done;
  }

  #rel(path: string): string {
    return relative(this.dir, path);
  }

  /** Everything from here on is synchronous: a signal handler cannot run in the middle. */
  #commitLocked(lock: Deno.FsFile): { done: string[]; backups: string[] } {
    const order = [...this.#pending].sort((a, b) => Number(a[1].last) - Number(b[1].last));
    for (const [final] of order) {
      const name = this.#rel(final);
      const now = fileIdentity(final);
      const then = name.includes("/") ? now : this.#seen.get(name) ?? "absent";
      if (now !== then) {
        throw new InspectorError(
          `another run wrote ${name} into options.saveDir ${this.dir} while this one ran: ` +
            `run this one again (one run at a time per folder)`,
        );
      }
      if (now.startsWith("d:")) {
        throw new InspectorError(
          `options.saveDir ${this.dir} holds a folder named ${name} where this run writes a ` +
            `file: move or remove it`,
        );
      }
    }
    const journal: JournalEntry[] = order.map(([final, p]) => ({
      final: this.#rel(final),
      tmp: this.#rel(p.tmp),
      backup: lstatOrNull(final) ? this.#rel(`${final}.${Deno.pid}.${randomHex()}.tmp`) : null,
    }));
    const record = new TextEncoder().encode(JSON.stringify({ pid: Deno.pid, files: journal }));
    lock.truncateSync(0);
    lock.seekSync(0, Deno.SeekMode.Start);
    let w = 0;
    while (w < record.length) w += lock.writeSync(record.subarray(w));
    lock.syncSync();
    let k = 0;
    try {
      for (; k < journal.length; k++) {
        const e = journal[k];
        const final = join(this.dir, e.final);
        if (e.backup) {
          try {
            Deno.linkSync(final, join(this.dir, e.backup));
          } catch {
            Deno.renameSync(final, join(this.dir, e.backup)); // no hard links here: move it aside
          }
        }
        Deno.renameSync(join(this.dir, e.tmp), final);
      }
    } catch (err) {
      const failed = journal[k]?.final ?? "?";
      try {
        rollBack(this.dir, journal.slice(0, k + 1));
      } catch (e) {
        throw new InspectorError(
          `cannot move ${failed} into options.saveDir ${this.dir} (${firstLine(err)}), nor ` +
            `restore the files before it (${firstLine(e)}): check the folder`,
        );
      }
      throw new InspectorError(
        `cannot move ${failed} into options.saveDir ${this.dir} (${firstLine(err)}): nothing ` +
          `of this run was kept; fix that and run again`,
      );
    }
    const done = order.map(([final]) => final);
    for (const [, p] of order) releaseTemp(p.tmp);
    this.#pending.clear();
    liveSets.delete(this);
    const backups = journal.flatMap((e) => e.backup ? [join(this.dir, e.backup)] : []);
    return { done, backups };
  }

  /** Remove every temporary file, and the folder if this run created it and it is empty. */
  async abort(): Promise<void> {
    this.abortSync();
    await Promise.resolve();
  }

  /** {@linkcode abort}, synchronously; returns how many files it removed. */
  abortSync(): number {
    let removed = 0;
    for (const p of this.#pending.values()) {
      if (removeQuietly(p.tmp)) removed++;
      releaseTemp(p.tmp);
    }
    this.#pending.clear();
    liveSets.delete(this);
    if (this.#createdDir) removeQuietly(this.dir);
    return removed;
  }
}
