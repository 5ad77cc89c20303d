import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * Ends each keep-alive connection as its response finishes once the server is closing.
 *
 * Node's `server.close()` closes only the connections idle at that moment. A connection whose
 * response was still running (a stream, a queued request) is kept alive after it, until its
 * client closes it — and an ingress keeps idle upstream connections for a minute or more, so a
 * stopping replica would wait its whole grace period (`server.shutdown_grace_ms`) with nothing
 * to do, and then close connections on which the ingress may just have sent a request. Here the
 * socket is ended (flushed, then FIN) right after the last byte of its response.
 */
export class ConnectionDrain {
  private readonly state = { closing: false };

  constructor(server: Server) {
    // One listener for every response (no closure per request: this is on every request's path).
    const state = this.state;
    function endIfClosing(this: ServerResponse): void {
      // 'finish': the whole response is handed to the OS; ending the socket now loses nothing.
      if (state.closing) this.req.socket.end();
    }
    server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
      response.once('finish', endIfClosing);
    });
  }

  /** From now on, a connection ends with its current response. Call it before `server.close()`. */
  beginClose(): void {
    this.state.closing = true;
  }
}
