// A gRPC server that forwards unary MotionService calls, as bytes, to a live
// server, with a hook per call: to lose answers, check credentials, record ids.
import * as grpc from '@grpc/grpc-js';

const bytes = (buffer) => buffer;
const CODECS = { requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes };

/**
 * @param upstream host:port of the live server
 * @param methods the unary method names to forward
 * @param hook (method, call, forward) => void; forward(callback) sends the call upstream
 */
export async function startProxy({ upstream, methods, hook, credentials = grpc.ServerCredentials.createInsecure() }) {
  const client = new grpc.Client(upstream, grpc.credentials.createInsecure());
  const definition = {};
  const handlers = {};
  for (const method of methods) {
    const path = `/motion.v1.MotionService/${method}`;
    definition[method] = { path, requestStream: false, responseStream: false, ...CODECS };
    handlers[method] = (call, callback) => {
      const forward = (done) => client.makeUnaryRequest(path, bytes, bytes, call.request, call.metadata, {}, done);
      hook(method, call, forward, callback);
    };
  }
  const server = new grpc.Server();
  server.addService(definition, handlers);
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (error, port) => (error ? reject(error) : resolve(port))),
  );
  const close = () => {
    server.forceShutdown();
    client.close();
  };
  return { target: `127.0.0.1:${port}`, close };
}
