/**
 * README, `--help` and the parser cannot drift: each command's flags are declared once, in its
 * option groups (`scripts/options/`), and this test checks that README.md's flag table of each
 * command lists exactly those flags, with the same placeholders and defaults, and that the
 * generated help shows every flag and every declared default.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";
import {
  commandFlags,
  commandHelp,
  type CommandSpec,
  type Flag,
  flagHelp,
  type OptionGroup,
  parseCommand,
} from "../scripts/options/group.ts";
import { INSPECT_COMMAND, INSPECT_HELP } from "../scripts/inspect.ts";
import { ANALYZE_COMMAND, ANALYZE_HELP } from "../scripts/analyze.ts";
import { COMPARE_COMMAND, COMPARE_HELP } from "../scripts/compare.ts";
import { BENCH_COMMAND } from "../scripts/bench.ts";
import { DEFAULT_LAYERS } from "../inspector/feature_map_inspector.ts";
import { EP_CHOICES } from "../inspector/backends.ts";

type AnyCommand = CommandSpec<Record<string, OptionGroup<unknown>>>;

/** The commands whose flags README.md documents in a table under `## <name>`. */
const DOCUMENTED: readonly AnyCommand[] = [INSPECT_COMMAND, ANALYZE_COMMAND, COMPARE_COMMAND];

/** Every command with option groups. */
const ALL: readonly AnyCommand[] = [...DOCUMENTED, BENCH_COMMAND];

/** One row of a README flag table. */
interface Row {
  /** The first cell, backticks kept. */
  flagCell: string;
  /** The default cell. */
  defaultCell: string;
  /** Line number in README.md (1-based). */
  line: number;
}

/** Split a Markdown table row into cells (`\|` is a literal bar). */
function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replaceAll("\\|", "|"));
}

/** The rows of the first table with a `flag` column under `## <command>`. */
function readmeTable(readme: string, command: string): Row[] {
  const lines = readme.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^##\\s+${command}\\s*$`).test(l));
  assert.ok(start >= 0, `README.md has no "## ${command}" section`);
  for (let i = start + 1; i < lines.length && !/^##\s/.test(lines[i]); i++) {
    if (!lines[i].startsWith("|") || cells(lines[i])[0].toLowerCase() !== "flag") continue;
    const rows: Row[] = [];
    for (let j = i + 2; j < lines.length && lines[j].startsWith("|"); j++) {
      const c = cells(lines[j]);
      rows.push({ flagCell: c[0], defaultCell: c[1] ?? "", line: j + 1 });
    }
    return rows;
  }
  assert.fail(`README.md's "## ${command}" section has no table with a "flag" column`);
}

/** The snake_case flag names a first cell names (`-h` resolved through the flags' short names). */
function namesIn(cell: string, flags: Record<string, Flag<unknown>>): string[] {
  const out: string[] = [];
  for (const m of cell.matchAll(/(?<![\w-])(--?)([a-zA-Z][\w-]*)/g)) {
    if (m[1] === "-") {
      const long = Object.entries(flags).find(([, f]) => f.short === m[2]);
      out.push(long ? long[0] : `-${m[2]}`);
    } else out.push(m[2].replaceAll("-", "_"));
  }
  return out;
}

/** A default cell that states one literal value: `` `out` ``, 2, `1e-3`. */
function literalDefault(cell: string): string | null {
  const m = /^`([^`]+)`$/.exec(cell) ?? /^(-?[\d.]+(?:e-?\d+)?)$/.exec(cell);
  return m ? m[1] : null;
}

const README = Deno.readTextFileSync(join(ROOT, "README.md"));

for (const spec of DOCUMENTED) {
  Deno.test(`README ## ${spec.name}: the flag table lists exactly the flags the groups declare`, () => {
    const flags = commandFlags(spec);
    const rows = readmeTable(README, spec.name);
    const documented = new Map<string, number>();
    const positionals: string[] = [];
    for (const r of rows) {
      const names = [...new Set(namesIn(r.flagCell, flags))];
      if (!names.length) positionals.push(r.flagCell.replaceAll("`", ""));
      for (const n of names) {
        assert.ok(
          !documented.has(n),
          `README.md:${r.line}: --${n} is listed twice in the ${spec.name} table`,
        );
        documented.set(n, r.line);
      }
    }
    const declared = Object.keys(flags);
    const missing = declared.filter((n) => !documented.has(n));
    const extra = [...documented.keys()].filter((n) => !(n in flags));
    assert.deepEqual(
      missing,
      [],
      `README.md's ${spec.name} table lacks ${missing.map((n) => `--${n}`).join(", ")}`,
    );
    assert.deepEqual(
      extra,
      [],
      `README.md's ${spec.name} table lists ${
        extra.map((n) => `--${n}`).join(", ")
      }, which ${spec.name} does not accept`,
    );
    assert.deepEqual(
      positionals,
      (spec.positionals?.entries ?? []).map((p) => p.label),
      `README.md's ${spec.name} table: operand rows differ from the command's`,
    );
  });

  Deno.test(`README ## ${spec.name}: placeholders and defaults agree with the groups`, () => {
    const flags = commandFlags(spec);
    for (const r of readmeTable(README, spec.name)) {
      const names = [...new Set(namesIn(r.flagCell, flags))];
      if (names.length !== 1) continue; // `--a_frame B,T` / `--b_frame B,T`: no single default
      const name = names[0];
      const f = flags[name];
      const where = `README.md:${r.line} (--${name})`;
      const metavar = r.flagCell.replaceAll("`", "")
        .replace(/(?<![\w-])--?[a-zA-Z][\w-]*,?/g, "").trim();
      if (metavar) assert.equal(metavar, f.metavar, `${where}: placeholder`);
      const stated = r.defaultCell.replaceAll("`", "").trim();
      if (f.default !== undefined) {
        assert.equal(stated, f.default, `${where}: README's default differs from the flag's`);
      } else {
        const lit = literalDefault(r.defaultCell);
        assert.equal(
          lit,
          null,
          `${where}: README states the default ${lit}; declare it as the flag's default`,
        );
      }
    }
  });
}

for (const spec of ALL) {
  Deno.test(`${spec.name} --help: every flag and every declared default is shown`, () => {
    const help = commandHelp(spec);
    for (const [name, f] of Object.entries(commandFlags(spec))) {
      assert.ok(help.includes(`--${name}`), `${spec.name} --help does not show --${name}`);
      if (f.default !== undefined) {
        assert.ok(
          flagHelp(f).join(" ").includes(f.default),
          `${spec.name} --help: --${name}'s help does not state its default ${f.default}`,
        );
      }
      assert.ok(/^[a-z][a-z0-9_]*$/.test(name), `--${name}: flags are snake_case`);
    }
    assert.ok(!help.includes("{default}"), `${spec.name} --help has an unfilled {default}`);
  });
}

Deno.test("help texts are the generated ones", () => {
  assert.equal(INSPECT_HELP, commandHelp(INSPECT_COMMAND));
  assert.equal(ANALYZE_HELP, commandHelp(ANALYZE_COMMAND));
  assert.equal(COMPARE_HELP, commandHelp(COMPARE_COMMAND));
});

Deno.test("declared defaults are the library's: --layers and --ep", () => {
  const flags = commandFlags(INSPECT_COMMAND);
  assert.equal(flags.layers.default, DEFAULT_LAYERS.join(" "));
  assert.ok(INSPECT_HELP.includes(EP_CHOICES.join(" | ")));
});

Deno.test("parse: kebab aliases, multi-value flags, typed values, one-line errors naming the flag", () => {
  const r = parseCommand(
    ["--batch-idx", "1", "--layers", "layer1", "layer2", "--max_len", "4", "--ep", "wasm"],
    INSPECT_COMMAND,
  );
  assert.ok(!r.help && !r.version);
  assert.equal(r.options.input.batchIdx, "1");
  assert.equal(r.options.input.maxLen, 4);
  assert.deepEqual(r.options.model.layers, ["layer1", "layer2"]);
  assert.equal(r.options.runtime.ep, "wasm");
  assert.equal(r.options.output.saveDir, "out");
  assert.equal(parseCommand(["--version"], INSPECT_COMMAND).version, true);
  const bad: [string[], RegExp][] = [
    [["--max_len", "0"], /^--max_len 0: expected a whole number >= 1$/],
    [["--ep", "tpu"], /^--ep tpu: use one of auto, webgpu, wasm, cpu$/],
    [["--dtype", "int8"], /^--dtype int8: use one of float32, float16$/],
    [["--bogus"], /^unknown flag --bogus \(see --help\)$/],
    [["--input", "x.npy", "--dset", "clips"], /^give either --input or --dset, not both$/],
    [["stray"], /^unexpected argument 'stray' \(see --help\)$/],
  ];
  for (const [args, re] of bad) {
    assert.throws(() => parseCommand(args, INSPECT_COMMAND), (e: Error) => {
      assert.match(e.message, re, args.join(" "));
      return true;
    });
  }
  const c = parseCommand(
    ["--layers", "a", "b", "A.npy", "B.npy", "--a-frame", "0,1"],
    COMPARE_COMMAND,
  );
  assert.ok(!c.help && !c.version);
  assert.deepEqual(c.positionals, ["A.npy", "B.npy"]);
  assert.deepEqual(c.options.output.layers, ["a", "b"]);
  assert.equal(c.options.output.saveDir, "comparison");
  assert.throws(() => parseCommand(["A.npy"], COMPARE_COMMAND), /compare takes two feature files/);
  const a = parseCommand(["f.npy", "--sort-channels", "mean", "--bins", "30"], ANALYZE_COMMAND);
  assert.ok(!a.help && !a.version);
  assert.deepEqual(a.options.analyze, {
    logCounts: false,
    sortChannels: "mean",
    bins: 30,
    gpu: undefined,
    gazeSigma: undefined,
    chartWorkers: undefined,
  });
  const gz = parseCommand(["f.npy", "--gaze-sigma", "8"], ANALYZE_COMMAND);
  assert.ok(!gz.help && !gz.version);
  assert.equal(gz.options.analyze.gazeSigma, 8);
  assert.throws(() => parseCommand(["--bins", "3"], ANALYZE_COMMAND), /give the features file/);
});
