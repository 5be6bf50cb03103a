// Preloaded (`node --import`) into peer servers that listen without naming a host (the MCP SDK's
// examples call `app.listen(port)`, which binds every interface): such a listen binds 127.0.0.1
// instead, so a peer with an auto-approving demo authorization server is reachable from this
// machine only. A listen that names a host or a path is left alone.
import net from 'node:net';

const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first, second] = args;
  // listen(port[, backlog][, callback]); the port may be a string of digits (the SDK demo passes URL.port).
  const port = typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first));
  if (port && (args.length === 1 || typeof second === 'function' || (typeof second === 'number' && typeof args[2] !== 'string'))) {
    return listen.call(this, first, '127.0.0.1', ...args.slice(1));
  }
  // listen({ port }) without host or path
  if (typeof first === 'object' && first !== null && 'port' in first && !('host' in first) && !('path' in first)) {
    return listen.call(this, { ...first, host: '127.0.0.1' }, ...args.slice(1));
  }
  return listen.apply(this, args);
};
