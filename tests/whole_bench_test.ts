/**
 * The whole-commands section of `deno task bench` (bench/whole_bench.ts): its parsers and table
 * on fixed inputs. Nothing is timed here.
 */
import assert from "node:assert/strict";
import {
  benchWhole,
  formatWholeTable,
  median,
  parseProfile,
  parseTimeVerbose,
  parseTreePeak,
  type WholeBenchReport,
} from "../bench/whole_bench.ts";
import { profileAdd, profileLines, profileMark, profileTime } from "../core/profile.ts";

/** What GNU time 1.9 (`/usr/bin/time -v`) printed for a toolkit run, verbatim. */
const TIME_V = `\tCommand being timed: "/usr/bin/python3 bench/torch_toolkit/inspect_features.py"
\tUser time (seconds): 9.82
\tSystem time (seconds): 1.71
\tPercent of CPU this job got: 116%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:09.88
\tAverage shared text size (kbytes): 0
\tAverage unshared data size (kbytes): 0
\tAverage stack size (kbytes): 0
\tAverage total size (kbytes): 0
\tMaximum resident set size (kbytes): 452668
\tAverage resident set size (kbytes): 0
\tMajor (requiring I/O) page faults: 0
\tMinor (reclaiming a frame) page faults: 160447
\tExit status: 0
`;

Deno.test("median: odd, even, unsorted, empty", () => {
  assert.equal(median([5]), 5);
  assert.equal(median([9, 1, 5]), 5);
  assert.equal(median([1, 2, 3, 10]), 2.5);
  assert.equal(median([3, 3, 1, 1]), 2);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("parseTimeVerbose: maximum RSS in bytes and the wall time of GNU time -v", () => {
  assert.deepEqual(parseTimeVerbose(TIME_V), { maxRssBytes: 452668 * 1024, wallMs: 9880 });
  assert.deepEqual(
    parseTimeVerbose("\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03.5\n"),
    { maxRssBytes: null, wallMs: (3600 + 2 * 60 + 3.5) * 1000 },
  );
  assert.deepEqual(parseTimeVerbose("garbage"), { maxRssBytes: null, wallMs: null });
});

Deno.test("parseTreePeak: highest VmHWM per process, summed; the time wrapper excluded", () => {
  // Three polls of a tree: time (100) -> deno task (101) -> launcher (102) -> inspect (103).
  const polls = [
    "100 2000",
    "101 40000",
    "102 30000",
    "100 2000",
    "101 41000",
    "102 30500",
    "103 200000",
    "101 41000",
    "103 650000",
    "junk line",
    "",
  ].join("\n");
  assert.equal(parseTreePeak(polls, [100]), (41000 + 30500 + 650000) * 1024);
  assert.equal(parseTreePeak(polls), (2000 + 41000 + 30500 + 650000) * 1024);
  assert.equal(parseTreePeak("no numbers here"), null);
});

Deno.test("parseProfile: this project's phases and marks, and the toolkit's timestamps", () => {
  const ours = [
    "backend: cpu",
    "profile: mark main at 84 ms",
    "profile: mark end at 1013 ms",
    "profile: inspect.forward 308 ms (1 calls)",
    "profile: render.png_encode 77 ms (8 calls)",
  ].join("\n");
  assert.deepEqual(parseProfile(ours), {
    "mark main": 84,
    "mark end": 1013,
    "inspect.forward": 308,
    "render.png_encode": 77,
  });
  const toolkit =
    "Registered hook on conv1\nprofile: imports 1077 ms\nprofile: layer layer4 29502 ms";
  assert.deepEqual(parseProfile(toolkit), { imports: 1077, "layer layer4": 29502 });
});

Deno.test("core/profile.ts: the lines a command prints parse back", async () => {
  profileAdd("test.phase", 12.4);
  profileTime("test.sync", () => 1);
  await profileTime("test.async", () => new Promise((r) => setTimeout(r, 5)));
  profileMark("test.mark");
  const p = parseProfile(profileLines().join("\n"));
  assert.equal(p["test.phase"], 12);
  assert.ok(p["test.async"] >= 4, `async phase ${p["test.async"]} ms`);
  assert.ok("test.sync" in p && "mark test.mark" in p);
});

Deno.test("formatWholeTable: ratios, goals met or not, units, skipped", () => {
  const MiB = 1024 * 1024;
  const report: WholeBenchReport = {
    machine: { cores: 2, load_average: [0.1, 1.9], python: "/usr/bin/python3, torch 1.13" },
    setup: { model_bytes: 45 * MiB, frames: "f", clips: 2, max_len: 8, size: 224 },
    commands: {
      "ours inspect": {
        command: "deno task -q inspect --checkpoint $WORK/model.onnx",
        processes: 1,
        wall_ms: 1159,
        peak_rss_bytes: 699 * MiB,
        max_process_rss_bytes: 635 * MiB,
        profile: {},
        runs: 3,
      },
      "toolkit all frames": {
        command: "python3 inspect_features.py --batch_idx 0 --timestep 0",
        processes: 16,
        wall_ms: 150000,
        peak_rss_bytes: 700 * MiB,
        max_process_rss_bytes: 450 * MiB,
        profile: {},
        runs: 3,
      },
    },
    rows: [
      { label: "inspect wall", unit: "ms", ours: 1159, toolkit: 9017, goal: 0.25 },
      { label: "inspect peak RSS", unit: "bytes", ours: 699 * MiB, toolkit: 669 * MiB, goal: 0.8 },
      { label: "analyze wall", unit: "ms", ours: 5769, toolkit: 32592, goal: 0.15 },
      { label: "all frames", unit: "ms", ours: 4000, toolkit: null, goal: null },
    ],
  };
  const t = formatWholeTable(report).split("\n");
  assert.match(t[0], /torchvision ResNet-18 per frame \(45 MiB ONNX\), 2 clips x 8 real frames/);
  assert.match(t[0], /load average 0\.1 -> 1\.9/);
  assert.ok(t.includes("| command | this project | PyTorch toolkit | ratio | goal |"));
  assert.ok(t.includes("| inspect wall | 1159 ms | 9017 ms | 0.13x | <= 0.25x: met |"));
  assert.ok(t.includes("| inspect peak RSS | 699 MiB | 669 MiB | 1.04x | <= 0.8x: not met |"));
  assert.ok(t.includes("| analyze wall | 5769 ms | 32.6 s | 0.18x | <= 0.15x: not met |"));
  assert.ok(t.includes("| all frames | 4000 ms | n/a | n/a | — |"));
  assert.ok(t.includes("  ours inspect [3]: deno task -q inspect --checkpoint $WORK/model.onnx"));
  assert.ok(
    t.includes(
      "  toolkit all frames [3]: 16 runs of python3 inspect_features.py --batch_idx 0 --timestep 0",
    ),
  );
  assert.equal(
    formatWholeTable({ skipped: "no torch", rows: [] }),
    "whole commands: skipped (no torch)",
  );
});

Deno.test("benchWhole: one clear skip line when the python has no torch", async () => {
  const r = await benchWhole({ python: "/nonexistent/python3-without-torch" });
  assert.deepEqual(r.rows, []);
  assert.match(
    formatWholeTable(r),
    /^whole commands: skipped \(\/nonexistent\/python3-without-torch does not import torch, torchvision, matplotlib and seaborn/,
  );
});
