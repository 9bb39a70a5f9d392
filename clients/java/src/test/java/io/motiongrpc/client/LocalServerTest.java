package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.rpc.ErrorInfo;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import io.motiongrpc.v1.DescribeComponentsRequest;
import io.motiongrpc.v1.DescribeComponentsResponse;
import io.motiongrpc.v1.MotionServiceGrpc;
import io.motiongrpc.v1.RunRequest;
import io.motiongrpc.v1.RunResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
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

    @Override
    public void run(RunRequest request, StreamObserver<RunResponse> response) {
      runs.add(request);
      if (runs.size() <= failFirst) {
        response.onError(failure);
        return;
      }
      response.onNext(RunResponse.newBuilder().setVersion(runs.size()).build());
      response.onCompleted();
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
}
