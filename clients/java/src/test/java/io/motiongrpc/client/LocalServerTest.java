package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.ErrorInfo;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.motiongrpc.client.Instance.RunOutcome;
import io.motiongrpc.v1.DescribeComponentsRequest;
import io.motiongrpc.v1.DescribeComponentsResponse;
import io.motiongrpc.v1.MotionServiceGrpc;
import io.motiongrpc.v1.RunRequest;
import io.motiongrpc.v1.RunResponse;
import io.motiongrpc.v1.RunStreamResponse;
import io.motiongrpc.v1.UpdateEvent;
import io.motiongrpc.v1.UpdateOutcome;
import io.motiongrpc.v1.UpdateStatus;
import io.motiongrpc.v1.WatchUpdatesRequest;
import io.motiongrpc.v1.WatchUpdatesResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The client against a real gRPC server on a free port that records what it receives. */
class LocalServerTest {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  /** Answers Run (failing the first failFirst attempts with failure) and DescribeComponents. */
  private static final class Recording extends MotionServiceGrpc.MotionServiceImplBase {
    final List<RunRequest> runs = new CopyOnWriteArrayList<>();
    int failFirst;
    Throwable failure;
    List<UpdateOutcome> updateOutcomes = List.of();
    /** Counted down when the client cancels a watch or a stream. */
    final java.util.concurrent.CountDownLatch watchEnded = new java.util.concurrent.CountDownLatch(1);

    @Override
    public void run(RunRequest request, StreamObserver<RunResponse> response) {
      runs.add(request);
      if (runs.size() <= failFirst) {
        response.onError(failure);
        return;
      }
      response.onNext(RunResponse.newBuilder().setVersion(runs.size()).setResult(Values.toValue("served"))
          .addAllUpdateOutcomes(updateOutcomes).build());
      response.onCompleted();
    }

    /** An item every 5 ms until the client cancels the call. */
    @Override
    public void runStream(RunRequest request, StreamObserver<RunStreamResponse> response) {
      ServerCallStreamObserver<RunStreamResponse> call = (ServerCallStreamObserver<RunStreamResponse>) response;
      call.setOnCancelHandler(watchEnded::countDown);
      sendUntilCancelled(call, i -> RunStreamResponse.newBuilder().setItem(Values.toValue(i)).build());
    }

    /** A Progress message, then an event every 5 ms until the client cancels the call. */
    @Override
    public void watchUpdates(WatchUpdatesRequest request, StreamObserver<WatchUpdatesResponse> response) {
      ServerCallStreamObserver<WatchUpdatesResponse> call = (ServerCallStreamObserver<WatchUpdatesResponse>) response;
      call.setOnCancelHandler(watchEnded::countDown);
      response.onNext(WatchUpdatesResponse.newBuilder()
          .setProgress(io.motiongrpc.v1.Progress.newBuilder().setLatestEventId("0-0")).build());
      sendUntilCancelled(call, i -> WatchUpdatesResponse.newBuilder()
          .setEvent(UpdateEvent.newBuilder().setEventId(i + "-0")).build());
    }

    /** Sends message(1), message(2), ... every 5 ms on a thread of its own until the client cancels. */
    private static <T> void sendUntilCancelled(ServerCallStreamObserver<T> call, java.util.function.IntFunction<T> message) {
      Thread sender = new Thread(() -> {
        for (int i = 1; !call.isCancelled(); i++) {
          try {
            call.onNext(message.apply(i));
            Thread.sleep(5);
          } catch (RuntimeException | InterruptedException e) {
            return;
          }
        }
      });
      sender.setDaemon(true);
      sender.start();
    }

    @Override
    public void describeComponents(DescribeComponentsRequest request, StreamObserver<DescribeComponentsResponse> response) {
      response.onNext(DescribeComponentsResponse.getDefaultInstance());
      response.onCompleted();
    }
  }

  private final List<String> authorizations = new CopyOnWriteArrayList<>();
  private Server server;

  private String serve(Recording service) throws Exception {
    io.grpc.ServerInterceptor recordHeaders = new io.grpc.ServerInterceptor() {
      @Override
      public <Q, R> io.grpc.ServerCall.Listener<Q> interceptCall(
          io.grpc.ServerCall<Q, R> call, Metadata headers, io.grpc.ServerCallHandler<Q, R> next) {
        authorizations.add(String.valueOf(headers.get(AUTHORIZATION)));
        return next.startCall(call, headers);
      }
    };
    server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
        .addService(ServerInterceptors.intercept(service, recordHeaders))
        .build()
        .start();
    return "127.0.0.1:" + server.getPort();
  }

  @AfterEach
  void stop() {
    if (server != null) server.shutdownNow();
  }

  @Test
  void anApiKeyIsSentAsBearer() throws Exception {
    try (MotionClient client = MotionClient.builder(serve(new Recording())).apiKey("s3cret").build()) {
      client.describe();
    }
    assertEquals(List.of("Bearer s3cret"), authorizations);
  }

  @Test
  void runRetriesUnavailableWithTheSameRequestId() throws Exception {
    Recording service = new Recording();
    service.failFirst = 2;
    service.failure = Status.UNAVAILABLE.withDescription("store down").asRuntimeException();
    try (MotionClient client = new MotionClient(serve(service))) {
      assertEquals(3, client.instance("Counter", "x").runOutcome("add", null).version());
    }
    assertEquals(3, service.runs.size());
    String id = service.runs.get(0).getRequestId();
    assertEquals(36, id.length());
    for (RunRequest run : service.runs) assertEquals(id, run.getRequestId());
  }

  @Test
  void everyRunHasItsOwnRequestIdUnlessGivenOne() throws Exception {
    Recording service = new Recording();
    try (MotionClient client = new MotionClient(serve(service))) {
      Instance counter = client.instance("Counter", "x");
      counter.run("add", null);
      counter.run("add", null);
      counter.run("add", null, RunOption.requestId("mine-1"));
    }
    assertNotEquals(service.runs.get(0).getRequestId(), service.runs.get(1).getRequestId());
    assertEquals("mine-1", service.runs.get(2).getRequestId());
  }

  @Test
  void retriesCanBeTurnedOff() throws Exception {
    Recording service = new Recording();
    service.failFirst = 1;
    service.failure = Status.UNAVAILABLE.asRuntimeException();
    try (MotionClient client = MotionClient.builder(serve(service)).serviceConfig(null).build()) {
      MotionException e = assertThrows(MotionException.class, () -> client.instance("Counter", "x").run("add", null));
      assertEquals(Status.Code.UNAVAILABLE, e.code());
    }
  }

  @Test
  void anErrorExposesCodeReasonAndErrorType() throws Exception {
    Recording service = new Recording();
    service.failFirst = 1;
    Metadata trailers = new Metadata();
    trailers.put(MotionException.ERROR_TYPE_KEY, "TypeError");
    ErrorInfo info = ErrorInfo.newBuilder().setReason("OP_FAILED").setDomain("motion-grpc")
        .putMetadata("error_type", "TypeError").build();
    service.failure = StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
        .setCode(Status.Code.UNKNOWN.value()).setMessage("TypeError: bad operand").addDetails(Any.pack(info)).build(),
        trailers);
    try (MotionClient client = new MotionClient(serve(service))) {
      MotionException e = assertThrows(MotionException.class, () -> client.instance("Counter", "x").run("add", null));
      assertEquals(List.of(Status.Code.UNKNOWN, "OP_FAILED", "motion-grpc", "TypeError", "TypeError: bad operand"),
          List.of(e.code(), e.reason(), e.domain(), e.errorType(), e.details()));
      assertEquals(Map.of("error_type", "TypeError"), e.metadata());
    }
  }

  @Test
  void theDefaultServiceConfigIsThePublishedOne() throws Exception {
    String published = java.nio.file.Files.readString(java.nio.file.Path.of("../../proto/motion/v1/service_config.json"));
    com.google.protobuf.Struct.Builder parsed = com.google.protobuf.Struct.newBuilder();
    com.google.protobuf.util.JsonFormat.parser().merge(published, parsed);
    assertEquals(Values.fromStruct(parsed.build()), MotionClient.defaultServiceConfig());
  }

  @Test
  void closeEndsAnObservedWatchAtOnceAndNothingIsDeliveredAfterIt() throws Exception {
    Recording service = new Recording();
    MotionClient client = new MotionClient(serve(service));
    AtomicInteger received = new AtomicInteger();
    AtomicReference<Throwable> ended = new AtomicReference<>();
    AtomicInteger afterEnd = new AtomicInteger();
    client.instance("Counter", "x").watch(WatchOptions.fromNow(), new StreamObserver<Watch.Message>() {
      @Override public void onNext(Watch.Message message) {
        if (ended.get() != null) afterEnd.incrementAndGet();
        received.incrementAndGet();
      }
      @Override public void onError(Throwable t) { ended.set(t); }
      @Override public void onCompleted() { ended.set(new IllegalStateException("completed")); }
    });
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (received.get() < 5 && System.nanoTime() < until) Thread.sleep(5);
    long start = System.nanoTime();
    client.close();
    long closeMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    int atClose = received.get();
    Thread.sleep(200);
    assertEquals(atClose, received.get(), "messages delivered after close() returned");
    assertTrue(closeMillis < 2000, "close() took " + closeMillis + " ms");
    assertEquals(Status.Code.CANCELLED, ((MotionException) ended.get()).code());
    assertEquals(0, afterEnd.get());
    assertTrue(service.watchEnded.await(5, TimeUnit.SECONDS), "the server's call was not cancelled");
  }

  @Test
  void closeEndsABlockingWatch() throws Exception {
    Recording service = new Recording();
    MotionClient client = new MotionClient(serve(service));
    Watch watch = client.instance("Counter", "x").watch(WatchOptions.fromNow());
    assertEquals("1-0", watch.next().latestEventId());
    long start = System.nanoTime();
    client.close();
    assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(2), "close() waited for the watch");
    assertEquals(Status.Code.CANCELLED, assertThrows(MotionException.class, watch::next).code());
    assertTrue(service.watchEnded.await(5, TimeUnit.SECONDS), "the server's call was not cancelled");
  }

  @Test
  void closeEndsABlockingRunStream() throws Exception {
    Recording service = new Recording();
    MotionClient client = new MotionClient(serve(service));
    RunStream stream = client.instance("Counter", "x").runStream("chat", null);
    assertEquals(1.0, stream.next());
    long start = System.nanoTime();
    client.close();
    assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(2), "close() waited for the stream");
    assertEquals(Status.Code.CANCELLED, assertThrows(MotionException.class, stream::hasNext).code());
    assertTrue(service.watchEnded.await(5, TimeUnit.SECONDS), "the server's call was not cancelled");
    assertEquals(Status.Code.CANCELLED,
        assertThrows(MotionException.class, () -> client.instance("Counter", "x").runStream("chat", null)).code());
  }

  private static UpdateOutcome updateOutcome(UpdateStatus status, String errorType, String message) {
    return UpdateOutcome.newBuilder().setUpdateId("1-0").setFlow("add").setOp("add").setStatus(status)
        .setErrorType(errorType).setErrorMessage(message).build();
  }

  @Test
  void runWithFlushUpdateThrowsWhenAnAwaitedUpdateFailed() throws Exception {
    Recording service = new Recording();
    service.updateOutcomes = List.of(
        updateOutcome(UpdateStatus.UPDATE_STATUS_APPLIED, "", ""),
        updateOutcome(UpdateStatus.UPDATE_STATUS_FAILED, "KeyError", "'missing'"));
    try (MotionClient client = new MotionClient(serve(service))) {
      Instance counter = client.instance("Counter", "x");
      MotionException e = assertThrows(MotionException.class, () -> counter.run("add", null, RunOption.FLUSH_UPDATE));
      assertEquals(List.of(Status.Code.UNKNOWN, "OP_FAILED", "motion-grpc", "KeyError"),
          List.of(e.code(), e.reason(), e.domain(), e.errorType()));
      assertEquals(Map.of("error_type", "KeyError"), e.metadata());
      assertEquals("update op add of flow add failed: KeyError: 'missing'", e.details());
      // The outcome is still there for who wants it, failure included.
      RunOutcome outcome = counter.runOutcome("add", null, RunOption.FLUSH_UPDATE);
      assertEquals(UpdateStatus.UPDATE_STATUS_FAILED, outcome.updateOutcomes().get(1).getStatus());
      assertEquals(UpdateStatus.UPDATE_STATUS_FAILED,
          counter.runAsync("add", null, RunOption.FLUSH_UPDATE).get(5, TimeUnit.SECONDS).updateOutcomes().get(1).getStatus());
    }
  }

  @Test
  void runWithFlushUpdateReturnsWhenAnAwaitedUpdateWasDiscarded() throws Exception {
    Recording service = new Recording();
    service.updateOutcomes = List.of(updateOutcome(UpdateStatus.UPDATE_STATUS_DISCARDED, "superseded", ""));
    try (MotionClient client = new MotionClient(serve(service))) {
      assertEquals("served", client.instance("Counter", "x").run("add", null, RunOption.FLUSH_UPDATE));
    }
  }
}
