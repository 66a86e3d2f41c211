// Starts and kills real sockbus processes for the recovery suite. SOCKBUS_BIN is the binary
// (built by the Go test that runs this suite); every server gets its own data dir and a
// loopback port, and can be killed with SIGKILL and restarted on the same port and data.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = () => {
  const b = process.env.SOCKBUS_BIN;
  if (!b) throw new Error('SOCKBUS_BIN is not set (the Go test TestNodeRecovery sets it)');
  return b;
};

export class Server {
  constructor(args = []) {
    this.args = args;
    this.dataDir = mkdtempSync(join(tmpdir(), 'sockbus-recovery-'));
    this.addr = '127.0.0.1:0';
    this.proc = null;
  }

  /** Starts the server and resolves with its base URL once it listens. */
  start(ms = 20000) {
    const proc = spawn(bin(), ['--addr', this.addr, '--data-dir', this.dataDir, '--log-level', 'info', ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    let out = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sockbus did not start within ${ms} ms:\n${out}`)), ms);
      const onData = (d) => {
        out += d;
        const m = out.match(/"sockbus started" http=(http:\/\/[0-9.:]+)/);
        if (m) {
          clearTimeout(timer);
          this.url = m[1];
          this.addr = m[1].replace('http://', '');
          resolve(this.url);
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData); // the start-up line is a log line
      proc.on('exit', (code) => {
        clearTimeout(timer);
        if (!this.url) reject(new Error(`sockbus exited (${code}) during startup:\n${out}`));
      });
    });
  }

  /** kill -9, then wait for the process to be gone. */
  kill9() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode) return Promise.resolve();
    return new Promise((resolve) => {
      p.once('exit', resolve);
      p.kill('SIGKILL');
    });
  }

  /** SIGTERM (ordered shutdown), then wait. */
  stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode) return Promise.resolve();
    return new Promise((resolve) => {
      p.once('exit', resolve);
      p.kill('SIGTERM');
    });
  }

  async destroy() {
    await this.kill9();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
