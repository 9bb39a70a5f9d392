package io.motiongrpc.client;

import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptors;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import io.motiongrpc.v1.ComponentInfo;
import io.motiongrpc.v1.DescribeComponentsRequest;
import io.motiongrpc.v1.ListInstancesRequest;
import io.motiongrpc.v1.ListInstancesResponse;
import io.motiongrpc.v1.MotionServiceGrpc;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A connection to a motion-grpc server. Safe for concurrent use; close it when done.
 *
 * <pre>{@code
 * try (MotionClient client = new MotionClient("localhost:50051")) {
 *   Object result = client.instance("Counter", "user42").run("add", Map.of("n", 3));
 * }
 * }</pre>
 *
 * <p>{@link #close()} ends the client for real: open watches and streams are cancelled at once and
 * deliver nothing after it returns; unary calls in flight get one second to finish, then are
 * cancelled.
 *
 * <p>Every client uses the published service config ({@link #defaultServiceConfig()}): UNAVAILABLE
 * and CANCELLED (a server shutting down) are retried for Run, GetState, FlushUpdates, DescribeComponents and ListInstances.
 */
public final class MotionClient implements AutoCloseable {
  private final ManagedChannel channel;
  private final Stubs stubs;

  /** Connects to target (e.g. "localhost:50051") without TLS. */
  public MotionClient(String target) {
    this(builder(target).channel(), null);
  }

  /** Uses a channel built by the caller (interceptors...); close() shuts it down. */
  public MotionClient(ManagedChannel channel) {
    this(channel, null);
  }

  private MotionClient(ManagedChannel channel, String apiKey) {
    this.channel = channel;
    io.grpc.Channel calls = channel;
    if (apiKey != null) {
      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + apiKey);
      calls = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    this.stubs = new Stubs(calls, null, new OpenCalls());
  }

  /** A builder for a client with TLS, mTLS, an API key or another service config. */
  public static Builder builder(String target) {
    return new Builder(target);
  }

  /** A handle on one instance of one component; the server creates it on first use. */
  public Instance instance(String component, String instanceId) {
    return new Instance(stubs, component, instanceId);
  }

  /** The hosted components with their flows and update ops. */
  public List<ComponentInfo> describe() {
    return Stubs.call(() -> stubs.blocking().describeComponents(DescribeComponentsRequest.getDefaultInstance()))
        .getComponentsList();
  }

  /** {@link #describe}, without blocking. */
  public CompletableFuture<List<ComponentInfo>> describeAsync() {
    return Stubs.future(stubs.future().describeComponents(DescribeComponentsRequest.getDefaultInstance()))
        .thenApply(r -> r.getComponentsList());
  }

  /**
   * The ids of component's instances, fetched pageSize at a time (0: the server's default) as the
   * iteration goes on; a failed page throws {@link MotionException} from the iterator.
   */
  public Iterable<String> listInstances(String component, int pageSize) {
    return () -> new Iterator<>() {
      private ListInstancesResponse page = fetch("");
      private int index;

      private ListInstancesResponse fetch(String token) {
        ListInstancesRequest request = ListInstancesRequest.newBuilder()
            .setComponent(component).setPageSize(pageSize).setPageToken(token).build();
        return Stubs.call(() -> stubs.blocking().listInstances(request));
      }

      @Override
      public boolean hasNext() {
        while (index == page.getInstanceIdsCount() && !page.getNextPageToken().isEmpty()) {
          page = fetch(page.getNextPageToken());
          index = 0;
        }
        return index < page.getInstanceIdsCount();
      }

      @Override
      public String next() {
        if (!hasNext()) throw new NoSuchElementException();
        return page.getInstanceIds(index++);
      }
    };
  }

  /** The generated blocking stub, for what this client does not wrap. */
  public MotionServiceGrpc.MotionServiceBlockingStub stub() {
    return stubs.blocking();
  }

  /** How long {@link #close()} lets unary calls in flight finish before cancelling them. */
  public static final Duration CLOSE_GRACE = Duration.ofSeconds(1);

  /**
   * Ends the client for real: {@link #close(Duration)} with a grace of {@link #CLOSE_GRACE} (one
   * second) for unary calls in flight.
   */
  @Override
  public void close() {
    close(CLOSE_GRACE);
  }

  /**
   * Shuts the channel down. Open watches and streams ({@link Watch}, {@link RunStream} and their
   * observed forms) are cancelled at once: a blocked or later read throws a {@link MotionException}
   * (CANCELLED), an observer gets its onError (CANCELLED) before this returns, and nothing of
   * theirs is delivered after it. Unary calls in flight get up to grace to finish, then are
   * cancelled with the channel. New calls fail. Returns once the channel has terminated (or a few
   * seconds after cancelling, at most).
   */
  public void close(Duration grace) {
    stubs.openCalls().closeAll();
    channel.shutdown();
    try {
      if (!channel.awaitTermination(grace.toNanos(), TimeUnit.NANOSECONDS)) {
        channel.shutdownNow();
        channel.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /** The largest response a client takes: above the server's --max-message-bytes (8 MiB by default). */
  public static final int MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

  /** The service config of proto/motion/v1/service_config.json, as gRPC's channel builders take it. */
  public static Map<String, ?> defaultServiceConfig() {
    try (InputStream in = MotionClient.class.getResourceAsStream("service_config.json")) {
      Struct.Builder config = Struct.newBuilder();
      JsonFormat.parser().merge(new String(in.readAllBytes(), StandardCharsets.UTF_8), config);
      return Values.fromStruct(config.build());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Options of a client: TLS, mTLS, an API key, a service config. */
  public static final class Builder {
    private final String target;
    private File trustedCertificates;
    private boolean tls;
    private File clientCertificate;
    private File clientKey;
    private String apiKey;
    private Map<String, ?> serviceConfig = defaultServiceConfig();

    private Builder(String target) {
      this.target = target;
    }

    /** Connects over TLS, verifying the server with the system's trusted certificates. */
    public Builder tls() {
      this.tls = true;
      return this;
    }

    /** Connects over TLS, verifying the server with the PEM CA certificates of this file. */
    public Builder tls(File trustedCertificates) {
      this.tls = true;
      this.trustedCertificates = trustedCertificates;
      return this;
    }

    /** Presents a client certificate (mTLS; the key as PEM PKCS#8). Implies TLS. */
    public Builder clientCertificate(File certificateChain, File privateKey) {
      this.tls = true;
      this.clientCertificate = certificateChain;
      this.clientKey = privateKey;
      return this;
    }

    /** Sends key (an API key or an instance token) as "authorization: Bearer KEY" on every call. */
    public Builder apiKey(String key) {
      if (key == null || key.isEmpty()) throw new IllegalArgumentException("empty API key");
      this.apiKey = key;
      return this;
    }

    /** Replaces the default service config; null turns retries off. */
    public Builder serviceConfig(Map<String, ?> serviceConfig) {
      this.serviceConfig = serviceConfig;
      return this;
    }

    /** Connects (lazily, on the first call). */
    public MotionClient build() {
      return new MotionClient(channel(), apiKey);
    }

    ManagedChannel channel() {
      // Above the server's --max-message-bytes (8 MiB by default): a large answer or state is
      // never refused here after its run took effect.
      ManagedChannelBuilder<?> builder =
          Grpc.newChannelBuilder(target, credentials()).maxInboundMessageSize(MAX_RECEIVE_BYTES);
      if (serviceConfig == null) return builder.disableRetry().build();
      return builder.defaultServiceConfig(serviceConfig).enableRetry().build();
    }

    private ChannelCredentials credentials() {
      if (!tls) return InsecureChannelCredentials.create();
      try {
        TlsChannelCredentials.Builder credentials = TlsChannelCredentials.newBuilder();
        if (trustedCertificates != null) credentials.trustManager(trustedCertificates);
        if (clientCertificate != null) credentials.keyManager(clientCertificate, clientKey);
        return credentials.build();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read the TLS certificates: " + e.getMessage(), e);
      }
    }
  }
}
