import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small local stand-in for a chat server on 127.0.0.1, speaking both Ollama's /api/chat (NDJSON stream) and
 * OpenAI's /v1/chat/completions (server-sent events), as the message server writer uses them. Each request's
 * body is recorded; `answer` gives the text to stream (in pieces of a few characters). A model named
 * "missing" gets each API's "not found" error; `redirect` makes every request a 302 to another address;
 * `delayMs` waits between pieces (a server writing slowly).
 */
export interface ChatStub {
  url: string;
  requests: Array<{ path: string; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startChatStub(
  answer: (body: Record<string, unknown>, index: number) => string,
  o: { redirect?: boolean; delayMs?: number } = {},
): Promise<ChatStub> {
  const requests: ChatStub['requests'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', async () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      const path = req.url ?? '';
      requests.push({ path, body });
      if (o.redirect) {
        res.writeHead(302, { location: 'http://192.0.2.1/api/chat' }).end();
        return;
      }
      const ollama = path === '/api/chat';
      if (!ollama && path !== '/v1/chat/completions') {
        res.writeHead(404).end('404 page not found');
        return;
      }
      if (body.model === 'missing') {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(
            JSON.stringify(
              ollama
                ? { error: 'model "missing" not found, try pulling it first' }
                : { error: { message: 'The model `missing` does not exist.', type: 'invalid_request_error' } },
            ),
          );
        return;
      }
      const text = answer(body, requests.length - 1);
      const pieces = text.match(/[\s\S]{1,5}/g) ?? [];
      res.writeHead(200, { 'content-type': ollama ? 'application/x-ndjson' : 'text/event-stream' });
      for (const p of pieces) {
        if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
        res.write(
          ollama
            ? `${JSON.stringify({ model: body.model, message: { role: 'assistant', content: p }, done: false })}\n`
            : `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: p } }] })}\n\n`,
        );
      }
      res.end(
        ollama ? `${JSON.stringify({ model: body.model, message: { role: 'assistant', content: '' }, done: true })}\n` : 'data: [DONE]\n\n',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
