/**
 * `feature-inspector`: one entry point with the subcommands `inspect`, `analyze` and `compare`
 * (the same flags as the tasks). This is what `deno task compile` turns into a binary.
 *
 * @module
 */

import { runMain } from "./cli_args.ts";
import { InspectorError } from "../core/errors.ts";
import { TOOL } from "../core/manifest.ts";

/** Help text. */
export const CLI_HELP = `${TOOL.name} ${TOOL.version} — what each layer of a video CNN has learned

Usage: feature-inspector <command> [flags]

Commands:
  inspect    extract feature maps from an ONNX video model     (feature-inspector inspect --help)
  analyze    charts, statistics and health flags of a features .npy
  compare    compare two runs layer by layer

  --help, --version`;

/**
 * Run one subcommand.
 *
 * @example Usage
 * ```ts ignore
 * import { cliMain } from "./cli.ts";
 * await cliMain(["inspect", "--size", "112"]);
 * ```
 */
export async function cliMain(args: readonly string[]): Promise<void> {
  const [command, ...rest] = args;
  switch (command) {
    case "inspect": {
      const { inspectCommand } = await import("./inspect.ts");
      return await inspectCommand(rest);
    }
    case "analyze": {
      const { analyzeCommand } = await import("./analyze.ts");
      return await analyzeCommand(rest);
    }
    case "compare": {
      const { compareCommand } = await import("./compare.ts");
      return await compareCommand(rest);
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(CLI_HELP);
      return;
    case "--version":
    case "version":
      console.log(`${TOOL.name} ${TOOL.version}`);
      return;
    default:
      throw new InspectorError(
        `unknown command '${command}': use inspect, analyze or compare (see --help)`,
      );
  }
}

if (import.meta.main) await runMain(() => cliMain(Deno.args));
