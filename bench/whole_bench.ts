/**
 * The `whole` section of `deno task bench`: whole commands, each run as a user runs it (a fresh
 * process, start-up included), against the PyTorch toolkit this project replaces
 * (`bench/torch_toolkit/`, run with a python3 that has torch), on the same model, weights and
 * real frames.
 *
 * Setup: `bench/torch_toolkit/make_model.py` builds a torchvision ResNet-18 video model
 * (`model.backbone`, per frame, temporal mean, linear head), saves its state dict (what the
 * toolkit loads) and exports it with `torch.onnx.export` (what `inspect` loads); the clips are 2
 * clips x 8 of the real frames in `../shared/real/clips/mmaction2/frames` (frames 1-8 and 3-10),
 * resized to 224 px by both tools. Figures are medians of `--whole_runs` rounds; each round runs
 * every command once, in turn, after one untimed warm-up of each.
 *
 * Wall time is measured around the process (spawn to exit). Peak memory is the peak resident set
 * of the whole process tree: a poller reads every process's `VmHWM` (the kernel's high-water mark)
 * under `/proc` every 50 ms and sums the highest value seen per process, so the `deno task`
 * launcher and its child, or Python's DataLoader worker, count too. GNU `/usr/bin/time -v`, when
 * installed, also gives the largest single process ("Maximum resident set size").
 *
 * @module
 */

import { join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { loadAverage, median, shell } from "./_timing.ts";

export { median } from "./_timing.ts";

/** Options of {@linkcode benchWhole}. */
export interface WholeBenchOptions {
  /** Measured rounds (default 3). */
  runs?: number;
  /** Frame size (default 224). */
  size?: number;
  /** The real frames (default `../shared/real/clips/mmaction2/frames`, 10 frames or more). */
  frames?: string;
  /** The python3 with torch (default: `python3` on PATH, else `/usr/bin/python3`). */
  python?: string;
  /** Skip the all-frames workflow (16 toolkit runs per round). */
  noWorkflow?: boolean;
  /** Folder for the model, clips and outputs (default: a fresh temporary folder, removed). */
  workDir?: string;
  /** Progress lines. */
  onInfo?: (line: string) => void;
}

/** One run of one command. */
export interface CommandRun {
  /** Spawn to exit, milliseconds. */
  wall_ms: number;
  /** Peak resident memory of the process tree (sum over its processes of each one's peak), bytes. */
  peak_rss_bytes: number | null;
  /** Largest single process (GNU time's "Maximum resident set size"), bytes; null without it. */
  max_process_rss_bytes: number | null;
  /** Phase lines the command printed with `FEATURE_INSPECTOR_PROFILE=1`, milliseconds. */
  profile: Record<string, number>;
}

/** Medians of one command's runs. */
export interface CommandFigure {
  /** The command line (the first one, for a workflow of several runs). */
  command: string;
  /** Processes per measured run (16 for the toolkit's all-frames workflow). */
  processes: number;
  /** Median wall milliseconds (a workflow: of the sum over its processes). */
  wall_ms: number;
  /** Median peak RSS of the process tree (a workflow: the largest of its processes), bytes. */
  peak_rss_bytes: number | null;
  /** Median of the largest single process, bytes. */
  max_process_rss_bytes: number | null;
  /** Median of each profile phase (of the first process of a workflow). */
  profile: Record<string, number>;
  /** Measured rounds. */
  runs: number;
}

/** One row of the table. */
export interface WholeRow {
  /** What is compared. */
  label: string;
  /** `ms` or `bytes`. */
  unit: "ms" | "bytes";
  /** This project. */
  ours: number | null;
  /** The PyTorch toolkit. */
  toolkit: number | null;
  /** The largest ours / toolkit ratio that meets the goal; null when there is none. */
  goal: number | null;
}

/** What the section reports; `skipped` says why there is nothing else. */
export interface WholeBenchReport {
  /** Why nothing was measured. */
  skipped?: string;
  /** Machine load (1-minute load average at the start and the end) and facts. */
  machine?: { cores: number; load_average: [number | null, number | null]; python: string };
  /** The model and input. */
  setup?: { model_bytes: number; frames: string; clips: number; max_len: number; size: number };
  /** Every command, ours and the toolkit's, with its figures. */
  commands?: Record<string, CommandFigure>;
  /** The table rows. */
  rows: WholeRow[];
}

/**
 * The maximum resident set size (bytes) and elapsed wall time (ms) in GNU `time -v` output; null
 * for what is missing.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTimeVerbose } from "./whole_bench.ts";
 * const r = parseTimeVerbose(
 *   "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02.50\n" +
 *     "\tMaximum resident set size (kbytes): 452668\n",
 * );
 * assert.deepEqual(r, { maxRssBytes: 452668 * 1024, wallMs: 62500 });
 * ```
 */
export function parseTimeVerbose(
  text: string,
): { maxRssBytes: number | null; wallMs: number | null } {
  const rss = text.match(/Maximum resident set size \(kbytes\):\s*(\d+)/);
  const wall = text.match(/Elapsed \(wall clock\) time.*?:\s*([\d:.]+)\s*$/m);
  let wallMs: number | null = null;
  if (wall) {
    const parts = wall[1].split(":").map(Number);
    if (parts.every((p) => Number.isFinite(p))) {
      wallMs = parts.reduce((acc, p) => acc * 60 + p, 0) * 1000;
    }
  }
  return { maxRssBytes: rss ? Number(rss[1]) * 1024 : null, wallMs };
}

/**
 * The peak of a process tree from the poller's lines (`PID VmHWM_kB`, one per process per poll):
 * the highest value seen per process, summed, in bytes; null when there are none. `exclude` lists
 * PIDs that do not count (the `time` wrapper).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTreePeak } from "./whole_bench.ts";
 * const polls = "10 100\n11 50\n10 300\n11 40\n12 7\n";
 * assert.equal(parseTreePeak(polls), (300 + 50 + 7) * 1024);
 * assert.equal(parseTreePeak(polls, [12]), (300 + 50) * 1024);
 * assert.equal(parseTreePeak(""), null);
 * ```
 */
export function parseTreePeak(text: string, exclude: readonly number[] = []): number | null {
  const peak = new Map<number, number>();
  for (const line of text.split("\n")) {
    const m = line.match(/^\s*(\d+)\s+(\d+)\s*$/);
    if (!m) continue;
    const pid = Number(m[1]), kb = Number(m[2]);
    if (exclude.includes(pid)) continue;
    peak.set(pid, Math.max(peak.get(pid) ?? 0, kb));
  }
  if (!peak.size) return null;
  let sum = 0;
  for (const kb of peak.values()) sum += kb;
  return sum * 1024;
}

/**
 * The phases a command printed with `FEATURE_INSPECTOR_PROFILE=1`: this project's
 * `profile: PHASE MS ms (N calls)` and `profile: mark NAME at MS ms, rss R MiB` (as `mark NAME`
 * and `rss NAME`, in MiB), and the toolkit's `profile: NAME MS ms, rss R MiB` (since its start;
 * its rss is the peak so far).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProfile } from "./whole_bench.ts";
 * const p = parseProfile(
 *   "note: x\nprofile: mark main at 84 ms, rss 60 MiB\nprofile: render.svg 214 ms (26 calls)\n" +
 *     "profile: layer conv1 4908 ms\n",
 * );
 * assert.deepEqual(p, { "mark main": 84, "rss main": 60, "render.svg": 214, "layer conv1": 4908 });
 * ```
 */
export function parseProfile(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const mark = line.match(/^profile: mark (.+) at ([\d.]+) ms(?:, rss ([\d.]+) MiB)?$/);
    if (mark) {
      out[`mark ${mark[1]}`] = Number(mark[2]);
      if (mark[3] !== undefined) out[`rss ${mark[1]}`] = Number(mark[3]);
      continue;
    }
    const phase = line.match(
      /^profile: (.+?) ([\d.]+) ms(?: \(\d+ calls\))?(?:, rss ([\d.]+) MiB)?$/,
    );
    if (phase) {
      out[phase[1]] = Number(phase[2]);
      if (phase[3] !== undefined) out[`rss ${phase[1]}`] = Number(phase[3]);
    }
  }
  return out;
}

const MIB = 1024 * 1024;

function formatValue(v: number | null, unit: "ms" | "bytes"): string {
  if (v === null || !Number.isFinite(v)) return "n/a";
  if (unit === "bytes") return `${(v / MIB).toFixed(0)} MiB`;
  return v >= 10000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`;
}

/**
 * The section as a Markdown table (`| command | this project | PyTorch toolkit | ratio | goal |`),
 * with the machine load and the exact commands under it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatWholeTable } from "./whole_bench.ts";
 * const t = formatWholeTable({
 *   rows: [
 *     { label: "inspect wall", unit: "ms", ours: 1200, toolkit: 9800, goal: 0.25 },
 *     { label: "inspect peak RSS", unit: "bytes", ours: 300 * 2 ** 20, toolkit: 450 * 2 ** 20, goal: 0.8 },
 *     { label: "start-up", unit: "ms", ours: 90, toolkit: null, goal: null },
 *   ],
 * });
 * assert.match(t, /\| inspect wall \| 1200 ms \| 9800 ms \| 0\.12x \| <= 0\.25x: met \|/);
 * assert.match(t, /\| inspect peak RSS \| 300 MiB \| 450 MiB \| 0\.67x \| <= 0\.8x: met \|/);
 * assert.match(t, /\| start-up \| 90 ms \| n\/a \| n\/a \| — \|/);
 * assert.equal(formatWholeTable({ skipped: "no torch", rows: [] }), "whole commands: skipped (no torch)");
 * ```
 */
export function formatWholeTable(report: WholeBenchReport): string {
  if (report.skipped) return `whole commands: skipped (${report.skipped})`;
  const lines: string[] = [];
  if (report.setup && report.machine) {
    const s = report.setup;
    lines.push(
      `whole commands vs the PyTorch toolkit (bench/torch_toolkit, ${report.machine.python}): ` +
        `torchvision ResNet-18 per frame (${(s.model_bytes / MIB).toFixed(0)} MiB ONNX), ` +
        `${s.clips} clips x ${s.max_len} real frames at ${s.size} px; medians; ` +
        `${report.machine.cores} cores, load average ` +
        `${report.machine.load_average.map((v) => v ?? "?").join(" -> ")}`,
      "",
    );
  }
  lines.push(
    "| command | this project | PyTorch toolkit | ratio | goal |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const r of report.rows) {
    const ratio = r.ours !== null && r.toolkit ? r.ours / r.toolkit : null;
    const goal = r.goal === null
      ? "—"
      : `<= ${r.goal}x: ${ratio === null ? "n/a" : ratio <= r.goal ? "met" : "not met"}`;
    lines.push(
      `| ${r.label} | ${formatValue(r.ours, r.unit)} | ${formatValue(r.toolkit, r.unit)} | ` +
        `${ratio === null ? "n/a" : `${ratio.toFixed(2)}x`} | ${goal} |`,
    );
  }
  if (report.commands) {
    lines.push("", "commands (each a fresh process tree; runs per figure in brackets):");
    for (const [k, c] of Object.entries(report.commands)) {
      lines.push(
        `  ${k} [${c.runs}]: ${c.processes > 1 ? `${c.processes} runs of ` : ""}${c.command}`,
      );
    }
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Running commands

const TOOLKIT = new URL("./torch_toolkit/", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;

/** Default location of the real frames, beside the project. */
export const BENCH_FRAMES: string = join(
  ROOT,
  "..",
  "shared",
  "real",
  "clips",
  "mmaction2",
  "frames",
);

/**
 * Poll the process tree under PID $1 every 50 ms until $1 is gone: one `PID VmHWM_kB` line per
 * live process of the tree per poll.
 */
const POLLER = `r=$1
while [ -d /proc/$r ]; do
  ps -e -o pid=,ppid= | awk -v r="$r" '
    { par[$1] = $2; ids[NR] = $1 }
    END {
      keep[r] = 1; changed = 1
      while (changed) {
        changed = 0
        for (i in ids) { p = ids[i]; if (!(p in keep) && (par[p] in keep)) { keep[p] = 1; changed = 1 } }
      }
      for (p in keep) {
        f = "/proc/" p "/status"
        while ((getline line < f) > 0) if (line ~ /^VmHWM:/) { split(line, a, " "); print p, a[2] }
        close(f)
      }
    }'
  sleep 0.05
done`;

const HAVE_GNU_TIME = shell("/usr/bin/time -v true 2>&1 | grep -q 'Maximum resident' && echo y") ===
  "y\n";

/** Run one command as a process tree and measure it; throws with its last stderr line on failure. */
async function measureCommand(
  cmd: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CommandRun> {
  const tv = HAVE_GNU_TIME ? await Deno.makeTempFile({ prefix: "fi_time_" }) : null;
  const argv = tv ? ["/usr/bin/time", "-v", "-o", tv, ...cmd] : cmd;
  const t0 = performance.now();
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: options.cwd,
    env: { FEATURE_INSPECTOR_PROFILE: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const poller = new Deno.Command("sh", {
    args: ["-c", POLLER, "sh", String(child.pid)],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const out = await child.output();
  const wall = performance.now() - t0;
  const polls = new TextDecoder().decode((await poller.output()).stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  let maxProcess: number | null = null;
  if (tv) {
    maxProcess = parseTimeVerbose(await Deno.readTextFile(tv)).maxRssBytes;
    await Deno.remove(tv).catch(() => {});
  }
  if (!out.success) {
    const last = stderr.trim().split("\n").filter((l) => !/^\s|Command (exited|being)/.test(l))
      .at(-1);
    throw new InspectorError(`bench: \`${cmd.join(" ")}\` failed: ${last ?? `exit ${out.code}`}`);
  }
  return {
    wall_ms: wall,
    peak_rss_bytes: parseTreePeak(polls, tv ? [child.pid] : []),
    max_process_rss_bytes: maxProcess,
    profile: parseProfile(stderr),
  };
}

/** The first of `python3` (PATH) and `/usr/bin/python3` that imports the toolkit's packages. */
function torchPython(preferred?: string): string | null {
  for (const py of preferred ? [preferred] : ["python3", "/usr/bin/python3"]) {
    try {
      const r = new Deno.Command(py, {
        args: ["-c", "import torch, torchvision, matplotlib, seaborn"],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      if (r.success) return py;
    } catch { /* not installed */ }
  }
  return null;
}

function figure(command: string, runs: CommandRun[][]): CommandFigure {
  // Each round is one or several processes (a workflow): summed wall, largest peak.
  const walls = runs.map((r) => r.reduce((s, x) => s + x.wall_ms, 0));
  const peak = (f: (x: CommandRun) => number | null) => {
    const v = runs.map((r) => Math.max(...r.map((x) => f(x) ?? NaN)));
    return v.every((x) => Number.isFinite(x)) ? median(v) : null;
  };
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r[0].profile)))];
  return {
    command,
    processes: runs[0].length,
    wall_ms: median(walls),
    peak_rss_bytes: peak((x) => x.peak_rss_bytes),
    max_process_rss_bytes: peak((x) => x.max_process_rss_bytes),
    profile: Object.fromEntries(
      keys.map((k) => [k, median(runs.map((r) => r[0].profile[k]).filter((v) => v !== undefined))]),
    ),
    runs: runs.length,
  };
}

/**
 * Run the section.
 *
 * @example Usage
 * ```ts ignore
 * import { benchWhole, formatWholeTable } from "./whole_bench.ts";
 * console.log(formatWholeTable(await benchWhole({ runs: 1, onInfo: console.error })));
 * ```
 */
export async function benchWhole(options: WholeBenchOptions = {}): Promise<WholeBenchReport> {
  const info = options.onInfo ?? (() => {});
  const python = torchPython(options.python);
  if (!python) {
    return {
      skipped: `${
        options.python
          ? `${options.python} does not import`
          : "neither python3 on PATH nor /usr/bin/python3 imports"
      } torch, torchvision, matplotlib and seaborn, which the PyTorch toolkit ` +
        "(bench/torch_toolkit) needs; install them (Debian: python3-torch python3-torchvision " +
        "python3-matplotlib python3-seaborn) or pass --no_whole",
      rows: [],
    };
  }
  const framesDir = options.frames ?? BENCH_FRAMES;
  let frames: string[];
  try {
    frames = [...Deno.readDirSync(framesDir)].map((e) => e.name).filter((n) => /\.jpe?g$/i.test(n))
      .sort();
  } catch {
    frames = [];
  }
  const T = 8, B = 2, size = options.size ?? 224, runs = Math.max(1, options.runs ?? 3);
  if (frames.length < T + 2) {
    return {
      skipped: `the real frames are missing (${framesDir} needs ${T + 2} JPEG frames; it is ` +
        "../shared/real/clips/mmaction2/frames beside the project)",
      rows: [],
    };
  }
  const load0 = loadAverage();
  const ownDir = !options.workDir;
  const dir = options.workDir ?? await Deno.makeTempDir({ prefix: "feature-inspector-whole-" });
  try {
    info(`whole commands: exporting the ResNet-18 video model with ${python}...`);
    const made = await new Deno.Command(python, {
      args: [join(TOOLKIT, "make_model.py"), dir, String(size)],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!made.success) {
      const err = new TextDecoder().decode(made.stderr).trim().split("\n").at(-1);
      throw new InspectorError(`bench: making the model failed: ${err}`);
    }
    const clips = join(dir, "clips");
    for (const [c, first] of [["clip_a", 0], ["clip_b", 2]] as const) {
      await Deno.mkdir(join(clips, c), { recursive: true });
      for (const f of frames.slice(first, first + T)) {
        await Deno.copyFile(join(framesDir, f), join(clips, c, f));
      }
    }
    const onnx = join(dir, "model.onnx"), pth = join(dir, "model.pth");
    const deno = [Deno.execPath(), "task", "-q", "--config", join(ROOT, "deno.json")];
    const common = ["--dset", clips, "--size", String(size), "--batch_size", String(B)];
    const ours = {
      inspect: (
        out: string,
      ) => [...deno, "inspect", "--checkpoint", onnx, ...common, "--save_dir", out],
      analyze: (out: string, npy: string) => [...deno, "analyze", npy, "--save_dir", out],
      all: (out: string) => [
        ...ours.inspect(out),
        "--timestep",
        "all",
        "--batch_idx",
        "all",
      ],
      help: () => [...deno, "inspect", "--help"],
    };
    const py = (script: string) => [python, join(TOOLKIT, script)];
    const tk = {
      inspect: (out: string, b = 0, t = 0) => [
        ...py("inspect_features.py"),
        "--checkpoint",
        pth,
        ...common,
        "--save_dir",
        out,
        "--batch_idx",
        String(b),
        "--timestep",
        String(t),
      ],
      analyze: (out: string, pkl: string) => [...py("analyze_features.py"), pkl, "--save_dir", out],
      help: () => [...py("inspect_features.py"), "--help"],
    };
    const pkl = (out: string) => join(out, `features_b0_t0_clips_${size}.pkl`);
    const run = (cmd: string[]) => measureCommand(cmd, { cwd: dir });
    const results: Record<string, { cmd: string[]; runs: CommandRun[][] }> = {};
    const record = (key: string, cmd: string[], r: CommandRun[]) => {
      (results[key] ??= { cmd, runs: [] }).runs.push(r);
      const wall = r.reduce((s, x) => s + x.wall_ms, 0);
      info(`  ${key}: ${(wall / 1000).toFixed(2)} s`);
    };

    info("whole commands: warm-up (one untimed run of each)...");
    await run(ours.help());
    await run(ours.inspect(join(dir, "warm_ours")));
    await run(ours.analyze(join(dir, "warm_ours_an"), join(dir, "warm_ours", "features.npy")));
    await run(tk.inspect(join(dir, "warm_tk")));
    await run(tk.analyze(join(dir, "warm_tk_an"), pkl(join(dir, "warm_tk"))));

    for (let i = 0; i < runs; i++) {
      info(`whole commands: round ${i + 1} of ${runs}`);
      const o = join(dir, `ours_${i}`), k = join(dir, `tk_${i}`);
      record("ours start-up", ours.help(), [await run(ours.help())]);
      record("toolkit start-up", tk.help(), [await run(tk.help())]);
      record("ours inspect", ours.inspect(o), [await run(ours.inspect(o))]);
      record("toolkit inspect", tk.inspect(k), [await run(tk.inspect(k))]);
      const oa = ours.analyze(`${o}_an`, join(o, "features.npy"));
      record("ours analyze", oa, [await run(oa)]);
      const ka = tk.analyze(`${k}_an`, pkl(k));
      record("toolkit analyze", ka, [await run(ka)]);
      if (!options.noWorkflow) {
        record("ours all frames", ours.all(`${o}_all`), [await run(ours.all(`${o}_all`))]);
        const each: CommandRun[] = [];
        for (let b = 0; b < B; b++) {
          for (let t = 0; t < T; t++) each.push(await run(tk.inspect(`${k}_all`, b, t)));
        }
        record("toolkit all frames", tk.inspect(`${k}_all`, 0, 0), each);
      }
      for (const d of [o, k, `${o}_an`, `${k}_an`, `${o}_all`, `${k}_all`]) {
        await Deno.remove(d, { recursive: true }).catch(() => {});
      }
    }
    const commands: Record<string, CommandFigure> = {};
    for (const [key, r] of Object.entries(results)) {
      // Shown with the work folder as $WORK and the Deno executable as `deno`.
      const shown = r.cmd.map((a) => a === Deno.execPath() ? "deno" : a.replaceAll(dir, "$WORK"));
      commands[key] = figure(shown.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" "), r.runs);
    }
    const c = (k: string) => commands[k] ?? null;
    const row = (
      label: string,
      key: string,
      unit: "ms" | "bytes" | "largest",
      goal: number | null,
    ): WholeRow => {
      const pick = (f: CommandFigure | null) =>
        f === null
          ? null
          : unit === "ms"
          ? f.wall_ms
          : unit === "bytes"
          ? f.peak_rss_bytes
          : f.max_process_rss_bytes;
      return {
        label,
        unit: unit === "ms" ? "ms" : "bytes",
        ours: pick(c(`ours ${key}`)),
        toolkit: pick(c(`toolkit ${key}`)),
        goal,
      };
    };
    const ourPngs = (await Array.fromAsync(Deno.readDir(join(dir, "warm_ours_an"))))
      .filter((e) => e.name.endsWith(".png")).length;
    const tkPngs = (await Array.fromAsync(Deno.readDir(join(dir, "warm_tk_an"))))
      .filter((e) => e.name.endsWith(".png")).length;
    const rows: WholeRow[] = [
      row("inspect wall (1 clip, 1 frame saved, 8 layers)", "inspect", "ms", 0.25),
      row("inspect peak RSS (process tree)", "inspect", "bytes", 0.8),
      ...(HAVE_GNU_TIME
        ? [row("inspect peak RSS, largest process", "inspect", "largest", 0.8)]
        : []),
      row(`analyze wall (8 layers; ${ourPngs} / ${tkPngs} PNGs)`, "analyze", "ms", 0.15),
      row("analyze peak RSS (process tree)", "analyze", "bytes", 0.8),
      ...(HAVE_GNU_TIME
        ? [row("analyze peak RSS, largest process", "analyze", "largest", 0.8)]
        : []),
      ...(options.noWorkflow ? [] : [
        row(
          `all ${B * T} frames, wall (1 run \`--timestep all --batch_idx all\` / ${B * T} runs)`,
          "all frames",
          "ms",
          null,
        ),
        row("all frames, peak RSS (largest run)", "all frames", "bytes", null),
      ]),
      row("start-up only (`inspect --help`), wall", "start-up", "ms", null),
    ];
    const version = new Deno.Command(python, {
      args: ["-c", "import torch; print(torch.__version__)"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return {
      machine: {
        cores: navigator.hardwareConcurrency ?? 1,
        load_average: [load0, loadAverage()],
        python: `${python}, torch ${new TextDecoder().decode(version.stdout).trim()}`,
      },
      setup: {
        model_bytes: (await Deno.stat(onnx)).size,
        frames: framesDir,
        clips: B,
        max_len: T,
        size,
      },
      commands,
      rows,
    };
  } finally {
    if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
