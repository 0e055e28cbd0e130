/**
 * A redis-server of the test's own on a free loopback port, which the test may stop and start
 * again (the shared Redis on 6379 is never touched). By default it keeps nothing on disk
 * (--save "" --appendonly no): a restart comes back empty, like a Redis without persistence.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './worker-process.js';

export interface OwnRedis {
  port: number;
  url: string;
  /** SHUTDOWN NOSAVE: everything in memory is lost. */
  shutdownNoSave(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Whether a Redis answers PING on the port, over a plain socket: an ioredis client probing a server
 * that is not up yet leaves rejected commands behind ("Connection is closed") that nobody awaits.
 */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export async function startOwnRedis(extraArgs: string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const own: OwnRedis = {
    port,
    url,
    async start() {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extraArgs];
      const c = spawn('redis-server', args, { stdio: 'ignore' });
      child = c;
      exited = new Promise((resolve) => c.on('exit', () => resolve()));
      await waitFor(`redis-server on port ${port}`, () => ping(port), 15_000, 50);
    },
    async shutdownNoSave() {
      const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      await r.call('SHUTDOWN', 'NOSAVE').catch(() => undefined); // the connection closes before a reply
      r.disconnect();
      await exited;
      child = undefined;
    },
    async stop() {
      if (child) await own.shutdownNoSave();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await own.start();
  return own;
}
