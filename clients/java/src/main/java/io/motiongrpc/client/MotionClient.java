package io.motiongrpc.client;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.motiongrpc.v1.ComponentInfo;
import io.motiongrpc.v1.DescribeComponentsRequest;
import io.motiongrpc.v1.MotionServiceGrpc;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A connection to a motion-grpc server.
 *
 * <pre>{@code
 * try (MotionClient client = new MotionClient("localhost:50051")) {
 *   Object result = client.instance("Counter", "user42").run("add", Map.of("n", 3));
 * }
 * }</pre>
 */
public final class MotionClient implements AutoCloseable {
  private final ManagedChannel channel;
  private final MotionServiceGrpc.MotionServiceBlockingStub stub;

  /** Connects to target (e.g. "localhost:50051") without TLS. */
  public MotionClient(String target) {
    this(ManagedChannelBuilder.forTarget(target).usePlaintext().build());
  }

  /** Uses a channel built by the caller (TLS, interceptors...); close() shuts it down. */
  public MotionClient(ManagedChannel channel) {
    this.channel = channel;
    this.stub = MotionServiceGrpc.newBlockingStub(channel);
  }

  /** A handle on one instance of one component; the server creates it on first use. */
  public Instance instance(String component, String instanceId) {
    return new Instance(stub, component, instanceId);
  }

  /** The hosted components with their flows and update ops. */
  public List<ComponentInfo> describe() {
    return Instance.call(() -> stub.describeComponents(DescribeComponentsRequest.getDefaultInstance()))
        .getComponentsList();
  }

  /** The generated blocking stub, for the RPCs this client does not wrap. */
  public MotionServiceGrpc.MotionServiceBlockingStub stub() {
    return stub;
  }

  /** Shuts the channel down, waiting up to 5 seconds for calls in flight. */
  @Override
  public void close() {
    try {
      channel.shutdown().awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
