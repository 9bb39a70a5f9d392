package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.motiongrpc.client.Instance.FlushOutcome;
import io.motiongrpc.client.Instance.RunOption;
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
}
