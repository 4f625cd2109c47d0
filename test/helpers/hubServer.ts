import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A hub-shaped HTTP server on 127.0.0.1 for download tests: the models API and resolve URLs with
 * Range support, and injectable faults (connection dropped mid-file, wrong advertised hash, 404, slow).
 */
export interface HubRepo {
  commit: string;
  files: Map<string, Buffer>;
}

export class HubServer {
  readonly repos = new Map<string, HubRepo>();
  readonly requests: Array<{ url: string; range?: string }> = [];
  /** Drop the connection after this many bytes of a file, once per entry. */
  dropAfter = new Map<string, number>();
  /** Advertise a wrong SHA-256 for these files. */
  wrongHash = new Set<string>();
  /** Milliseconds to wait between 16 KiB chunks. */
  slowMs = 0;
  /** Never answer the models API (a hub that hangs). */
  hangApi = false;
  /** Stop sending these files after this many bytes, keeping the connection open (a stalled transfer), once per entry. */
  stallAfter = new Map<string, number>();
  /** Send these files without a length, and without end: the listed size, then more, until the client stops. */
  endless = new Set<string>();
  /** Answer the models API with a gzip bomb (a small body that inflates to 64 MiB of spaces). */
  gzipBomb = false;
  /** Answer the models API with this text instead (a broken answer), once. */
  apiBody: string | null = null;
  private server: Server | null = null;

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, 'http://x');
    this.requests.push({ url: url.pathname, range: req.headers.range });
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) {
      if (this.hangApi) return; // no answer, ever
      if (this.gzipBomb) {
        const bomb = gzipSync(Buffer.alloc(64 * 2 ** 20, 32));
        return void res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb);
      }
      if (this.apiBody !== null) {
        const body = this.apiBody;
        this.apiBody = null;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }
      const repo = this.repos.get(api[1]!);
      if (!repo || (api[2] !== 'main' && api[2] !== repo.commit)) return void res.writeHead(404).end('{"error":"Repository not found"}');
      const siblings = [...repo.files].map(([name, data]) => ({
        rfilename: name,
        size: data.length,
        ...(data.length > 1024
          ? {
              lfs: {
                size: data.length,
                sha256: this.wrongHash.has(name) ? '0'.repeat(64) : createHash('sha256').update(data).digest('hex'),
              },
            }
          : {}),
      }));
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ id: api[1], sha: repo.commit, siblings }));
    }
    const file = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repo = file ? this.repos.get(file[1]!) : undefined;
    const data = repo && file![2] === repo.commit ? repo.files.get(decodeURIComponent(file![3]!)) : undefined;
    if (!data) return void res.writeHead(404).end('Entry not found');
    const name = decodeURIComponent(file![3]!);
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) start = Number(m[1]);
    if (this.endless.has(name)) {
      res.writeHead(200);
      const chunk = Buffer.alloc(16384, 120);
      for (let sent = 0; sent < 256 * 2 ** 20 && !res.destroyed; sent += chunk.length) {
        if (!res.write(chunk))
          await new Promise((r) => {
            res.once('drain', r);
            res.once('close', r);
          });
      }
      return void res.end();
    }
    res.writeHead(m ? 206 : 200, {
      'content-length': data.length - start,
      ...(m ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    const drop = this.dropAfter.get(name);
    const stall = this.stallAfter.get(name);
    if (stall !== undefined) {
      this.stallAfter.delete(name);
      res.write(data.subarray(start, Math.max(start, stall)));
      return; // the connection stays open and silent
    }
    for (let off = start; off < data.length; off += 16384) {
      const end = Math.min(data.length, off + 16384);
      if (drop !== undefined && end > drop) {
        this.dropAfter.delete(name);
        res.write(data.subarray(off, drop));
        await new Promise((r) => setTimeout(r, 20));
        res.destroy(); // the connection drops mid-file
        return;
      }
      if (!res.write(data.subarray(off, end))) await new Promise((r) => res.once('drain', r));
      if (this.slowMs) await new Promise((r) => setTimeout(r, this.slowMs));
    }
    res.end();
  }
}
