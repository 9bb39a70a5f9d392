package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.motiongrpc.client.Instance.FlushOutcome;
import io.motiongrpc.client.Instance.RunOutcome;
import io.motiongrpc.v1.UpdateStatus;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/** Runs against a live server hosting examples/counter.py at MOTION_TARGET. */
@EnabledIfEnvironmentVariable(named = "MOTION_TARGET", matches = ".+")
class MotionClientTest {
  private static MotionClient client;

  @BeforeAll
  static void connect() {
    client = new MotionClient(System.getenv("MOTION_TARGET"));
  }

  @AfterAll
  static void close() {
    client.close();
  }

  private static Instance freshCounter() {
    return client.instance("Counter", "java-" + UUID.randomUUID()).withTimeout(Duration.ofSeconds(20));
  }

  @Test
  void runServesFromTheStateAndFlushAppliesTheUpdate() {
    Instance counter = freshCounter();
    assertEquals(3.0, counter.run("add", Map.of("n", 3)));
    FlushOutcome flushed = counter.flush("add");
    assertEquals(2, flushed.version()); // 1 after init_state, +1 for the update
    assertEquals(List.of(), flushed.failed());
    assertEquals(Map.of("count", 3.0, "history", List.of(3.0)), counter.getState());
    assertEquals(2, counter.version());

    RunOutcome outcome = counter.runOutcome("add", Map.of("n", 4), RunOption.FLUSH_UPDATE);
    assertEquals(7.0, outcome.result());
    assertEquals(3, outcome.version());
    assertEquals(1, outcome.updateIds().size());
    assertEquals(UpdateStatus.UPDATE_STATUS_APPLIED, outcome.updateOutcomes().get(0).getStatus());
    assertEquals(Map.of("count", 7.0), counter.getState("count"));
  }

  @Test
  void runStreamOfAPlainServeOpIsOneItemThenTheOutcome() {
    try (RunStream stream = freshCounter().runStream("add", Map.of("n", 5))) {
      List<Object> items = new java.util.ArrayList<>();
      for (Object item : stream) items.add(item);
      assertEquals(List.of(5.0), items);
      assertEquals(1, stream.outcome().updateIds().size());
    }
  }

  @Test
  void runStreamObserverGetsTheItemsThenCompletes() throws Exception {
    java.util.concurrent.CompletableFuture<List<Object>> done = new java.util.concurrent.CompletableFuture<>();
    List<Object> items = new java.util.concurrent.CopyOnWriteArrayList<>();
    freshCounter().runStream("add", Map.of("n", 2), new io.grpc.stub.StreamObserver<Object>() {
      @Override public void onNext(Object item) { items.add(item); }
      @Override public void onError(Throwable t) { done.completeExceptionally(t); }
      @Override public void onCompleted() { done.complete(items); }
    });
    assertEquals(List.of(2.0), done.get(20, java.util.concurrent.TimeUnit.SECONDS));
  }

  @Test
  void runAsyncCompletesWithTheOutcomeAndFailsWithAMotionException() throws Exception {
    Instance counter = freshCounter();
    assertEquals(3.0, counter.runAsync("add", Map.of("n", 3)).get(20, java.util.concurrent.TimeUnit.SECONDS).result());
    java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
        () -> counter.runAsync("nope", null).get(20, java.util.concurrent.TimeUnit.SECONDS));
    assertEquals(Status.Code.NOT_FOUND, ((MotionException) e.getCause()).code());
  }

  @Test
  void aWatchOpenedBeforeARunSeesItsUpdateAndResumes() {
    Instance counter = freshCounter();
    List<String> ids = new java.util.ArrayList<>();
    String updateId;
    try (Watch watch = counter.watch(WatchOptions.fromNow().withCreateIfMissing())) {
      updateId = counter.runOutcome("add", Map.of("n", 2)).updateIds().get(0);
      io.motiongrpc.v1.UpdateEvent event;
      do {
        event = watch.nextEvent();
        assertEquals(updateId, event.getUpdateId());
        ids.add(event.getEventId());
      } while (event.getStatus() != UpdateStatus.UPDATE_STATUS_APPLIED);
      assertEquals(ids.get(ids.size() - 1), watch.lastEventId());
    }
    try (Watch resumed = counter.watch(WatchOptions.after(ids.get(0)))) {
      for (String id : ids.subList(1, ids.size())) assertEquals(id, resumed.nextEvent().getEventId());
    }
  }

  @Test
  void aWatchOfAMissingInstanceIsNotFound() {
    MotionException e = assertThrows(MotionException.class, () -> freshCounter().watch(WatchOptions.fromNow()));
    assertEquals(Status.Code.NOT_FOUND, e.code());
  }

  @Test
  void listInstancesPagesThroughEveryInstanceAndDeleteRemovesOne() {
    List<String> mine = new java.util.ArrayList<>();
    for (int i = 0; i < 3; i++) {
      Instance counter = freshCounter();
      counter.run("add", null);
      mine.add(counter.id());
    }
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (String id : client.listInstances("Counter", 2)) assertTrue(seen.add(id), id + " listed twice");
    assertTrue(seen.containsAll(mine), seen.toString());
    Instance first = client.instance("Counter", mine.get(0));
    assertTrue(first.delete());
    assertEquals(false, first.delete());
  }

  @Test
  void aPassedDeadlineIsDeadlineExceeded() {
    Instance counter = freshCounter().withTimeout(Duration.ZERO);
    assertEquals(Status.Code.DEADLINE_EXCEEDED, assertThrows(MotionException.class, () -> counter.flush(null)).code());
  }

  @Test
  void writeStateRoundTripsJsonLikeValues() {
    Instance counter = freshCounter();
    counter.run("add", Map.of("n", 1));
    counter.flush(null);
    List<Object> history = Arrays.asList(1.0, "two", null, true, Map.of("nested", List.of(2.5)));
    assertEquals(3, counter.writeState(Map.of("count", 40, "history", history)));
    assertEquals(Map.of("count", 40.0, "history", history), counter.getState());
    assertEquals(42.0, counter.run("add", Map.of("n", 2)));
  }

  @Test
  void describeListsTheCounter() {
    assertTrue(client.describe().stream()
        .anyMatch(c -> c.getName().equals("Counter") && c.getFlows(0).getKey().equals("add")));
  }

  @Test
  void unknownFlowIsNotFound() {
    MotionException e = assertThrows(MotionException.class, () -> freshCounter().run("nope", null));
    assertEquals(Status.Code.NOT_FOUND, e.code());
    assertTrue(e.details().contains("nope"), e.details());
    assertNull(e.errorType());
  }

  @Test
  void emptyInstanceIdIsInvalidArgument() {
    MotionException e = assertThrows(MotionException.class,
        () -> client.instance("Counter", "").run("add", Map.of("n", 1)));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
  }

  @Test
  void aServeOpThatRaisesCarriesItsExceptionType() {
    MotionException e = assertThrows(MotionException.class, () -> freshCounter().run("add", Map.of("n", "x")));
    assertEquals(Status.Code.UNKNOWN, e.code());
    assertEquals("TypeError", e.errorType());
  }

  @Test
  void runWithFlushUpdateThrowsWhenItsUpdateFailed() {
    Instance instance = client.instance("Conformance", "java-" + UUID.randomUUID()).withTimeout(Duration.ofSeconds(20));
    MotionException e = assertThrows(MotionException.class,
        () -> instance.run("update_fails", null, RunOption.FLUSH_UPDATE));
    assertEquals(List.of(Status.Code.UNKNOWN, "OP_FAILED", "KeyError"), List.of(e.code(), e.reason(), e.errorType()));
    assertTrue(e.details().contains("update op update_fails of flow update_fails failed: KeyError"), e.details());
    RunOutcome outcome = instance.runOutcome("update_fails", null, RunOption.FLUSH_UPDATE);
    assertEquals("accepted", outcome.result());
    assertEquals(UpdateStatus.UPDATE_STATUS_FAILED, outcome.updateOutcomes().get(0).getStatus());
    assertEquals("accepted", instance.run("update_fails", null)); // nothing awaited, nothing to report
  }
}
