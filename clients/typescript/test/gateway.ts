// A real gateway process for the tests: `python main.py serve` on free ports (or a
// given one), with its own data directory. The Python is MG_PYTHON, else the
// repository's .venv.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..", "..", "..", "..");
const PYTHON = process.env.MG_PYTHON ?? join(ROOT, ".venv", "bin", "python");
const LISTENING = /listening ws=([\d.]+):(\d+) admin=([\d.]+):(\d+)/;

export class Gateway {
  readonly url: string;
  readonly port: number;
  private constructor(private readonly proc: ChildProcess, port: number, readonly dataDir: string, readonly log: string[]) {
    this.port = port;
    this.url = `ws://127.0.0.1:${port}/v1`;
  }

  static async start(options: { port?: number; dataDir?: string } = {}): Promise<Gateway> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "mg-ts-"));
    const proc = spawn(PYTHON, [join(ROOT, "main.py"), "serve", "--port", String(options.port ?? 0),
      "--admin-port", "0", "--data-dir", dataDir, "--shutdown-timeout", "5"],
    { cwd: ROOT, env: { ...process.env, MG_ARGON2_PROFILE: "test" }, stdio: ["ignore", "pipe", "pipe"] });
    const log: string[] = [];
    const port = await new Promise<number>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`gateway did not start:\n${log.join("")}`)), 60_000);
      const read = (chunk: Buffer) => {
        log.push(chunk.toString());
        const m = LISTENING.exec(log.join(""));
        if (m !== null) {
          clearTimeout(timer);
          ok(Number(m[2]));
        }
      };
      proc.stdout?.on("data", read);
      proc.stderr?.on("data", read);
      proc.on("exit", (code) => fail(new Error(`gateway exited with ${code}:\n${log.join("")}`)));
    });
    return new Gateway(proc, port, dataDir, log);
  }

  /** SIGTERM, and wait for the exit code. */
  stop(): Promise<number | null> {
    return new Promise((ok) => {
      if (this.proc.exitCode !== null) {
        ok(this.proc.exitCode);
        return;
      }
      this.proc.on("exit", (code) => ok(code));
      this.proc.kill("SIGTERM");
    });
  }
}
