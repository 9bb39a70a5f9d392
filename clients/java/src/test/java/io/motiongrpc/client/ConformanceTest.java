package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.motiongrpc.v1.ListInstancesRequest;
import io.motiongrpc.v1.ListInstancesResponse;
import io.motiongrpc.v1.MotionServiceGrpc;
import io.motiongrpc.v1.RunRequest;
import io.motiongrpc.v1.WatchUpdatesResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * Every scenario of conformance/scenarios.json (format in conformance/README.md), replayed against a
 * server hosting conformance/app.py (MOTION_CONFORMANCE_TARGET, else MOTION_TARGET) on this client's
 * channel (service config) and errors, with the generated message types called by method name.
 */
@EnabledIfEnvironmentVariable(named = "MOTION_TARGET", matches = ".+")
class ConformanceTest {
  private static final Path FILE = Path.of("../../conformance/scenarios.json");
  private static ManagedChannel channel;

  @BeforeAll
  static void connect() {
    String target = System.getenv("MOTION_CONFORMANCE_TARGET");
    channel = MotionClient.builder(target == null || target.isEmpty() ? System.getenv("MOTION_TARGET") : target)
        .channel();
  }

  @AfterAll
  static void close() {
    channel.shutdownNow();
  }

  @SuppressWarnings("unchecked")
  @TestFactory
  Stream<DynamicTest> scenarios() throws Exception {
    Map<String, Object> file = parseJson(Files.readString(FILE));
    assertEquals(1.0, file.get("format"), FILE + ": unknown format");
    return ((List<Map<String, Object>>) file.get("scenarios")).stream().map(scenario ->
        DynamicTest.dynamicTest((String) scenario.get("name"), () -> {
          Map<String, Object> vars = new HashMap<>();
          vars.put("instance", "conf-java-" + UUID.randomUUID().toString().replace("-", "").substring(0, 16));
          vars.put("request_id", UUID.randomUUID().toString());
          List<Map<String, Object>> steps = (List<Map<String, Object>>) scenario.get("steps");
          for (int i = 0; i < steps.size(); i++) {
            String where = "step " + (i + 1) + " (" + steps.get(i).get("rpc") + ")";
            try {
              runStep(steps.get(i), vars);
            } catch (AssertionError e) {
              fail(where + ": " + e.getMessage(), e);
            }
          }
        }));
  }

  static Map<String, Object> parseJson(String json) throws Exception {
    Struct.Builder struct = Struct.newBuilder();
    JsonFormat.parser().merge(json, struct);
    return Values.fromStruct(struct.build());
  }

  /** The call's answer: the rendered response (or {"messages": [...]}) and the error, if any. */
  record Answer(Object response, MotionException error) {}

  @SuppressWarnings("unchecked")
  private static void runStep(Map<String, Object> step, Map<String, Object> vars) throws Exception {
    Object request = Scenarios.substitute(step.get("request"), vars);
    Map<String, Object> expect = (Map<String, Object>) Scenarios.substitute(
        step.getOrDefault("expect", Map.of("code", "OK")), vars);
    Answer answer = invoke((String) step.get("rpc"), request, step);
    Scenarios.check(expect, answer.response(), answer.error());
    Map<String, Object> save = (Map<String, Object>) step.getOrDefault("save", Map.of());
    for (Map.Entry<String, Object> entry : save.entrySet()) {
      vars.put(entry.getKey(), Scenarios.lookup(answer.response(), (String) entry.getValue()));
    }
  }

  @SuppressWarnings("unchecked")
  private static Answer invoke(String rpc, Object request, Map<String, Object> step) throws Exception {
    MethodDescriptor<Message, Message> method = (MethodDescriptor<Message, Message>) MotionServiceGrpc
        .getServiceDescriptor().getMethods().stream()
        .filter(m -> m.getBareMethodName().equals(rpc)).findFirst().orElseThrow();
    Message.Builder builder = ((MethodDescriptor.PrototypeMarshaller<Message>) method.getRequestMarshaller())
        .getMessagePrototype().newBuilderForType();
    JsonFormat.parser().merge(JsonFormat.printer().print(Values.toValue(request)), builder);
    if (builder instanceof RunRequest.Builder run && run.getRequestId().isEmpty()) {
      run.setRequestId(UUID.randomUUID().toString()); // what this client does by default
    }
    Message message = builder.build();
    CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS);
    try {
      if (method.getType() == MethodDescriptor.MethodType.SERVER_STREAMING) {
        Object take = step.get("take");
        return stream(method, message, take == null ? 0 : ((Double) take).intValue());
      }
      if (Boolean.TRUE.equals(step.get("paginate"))) return paginate((ListInstancesRequest) message);
      return new Answer(render(ClientCalls.blockingUnaryCall(channel, method, options, message)), null);
    } catch (StatusRuntimeException e) {
      return new Answer(null, new MotionException(e));
    }
  }

  private static Answer stream(MethodDescriptor<Message, Message> method, Message request, int take) throws Exception {
    List<Object> messages = new ArrayList<>();
    Map<String, Object> response = Map.of("messages", messages);
    io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
    io.grpc.Context previous = context.attach();
    try {
      CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(take > 0 ? 10 : 30, TimeUnit.SECONDS);
      Iterator<Message> replies = ClientCalls.blockingServerStreamingCall(channel, method, options, request);
      while ((take == 0 || messages.size() < take) && replies.hasNext()) {
        Message reply = replies.next();
        if (reply instanceof WatchUpdatesResponse watch && !watch.hasEvent()) continue;
        messages.add(render(reply));
      }
      return new Answer(response, null);
    } catch (StatusRuntimeException e) {
      return new Answer(response, new MotionException(e));
    } finally {
      context.detach(previous);
      context.cancel(null);
    }
  }

  private static Answer paginate(ListInstancesRequest request) throws Exception {
    List<Object> ids = new ArrayList<>();
    int pages = 0;
    while (true) {
      ListInstancesResponse page = MotionServiceGrpc.newBlockingStub(channel)
          .withDeadlineAfter(30, TimeUnit.SECONDS).listInstances(request);
      pages++;
      if (request.getPageSize() > 0 && page.getInstanceIdsCount() > request.getPageSize()) {
        throw new AssertionError("page " + pages + " holds more than pageSize ids");
      }
      ids.addAll(page.getInstanceIdsList());
      if (page.getNextPageToken().isEmpty()) {
        Map<String, Object> all = new LinkedHashMap<>();
        all.put("instanceIds", ids);
        all.put("pages", (double) pages);
        return new Answer(all, null);
      }
      request = request.toBuilder().setPageToken(page.getNextPageToken()).build();
    }
  }

  private static Object render(Message message) throws Exception {
    return parseJson(JsonFormat.printer().includingDefaultValueFields().print(message));
  }
}
