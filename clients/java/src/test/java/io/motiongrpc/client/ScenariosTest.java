package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The conformance matcher fails on a mismatch (so a passing scenario means something). */
class ScenariosTest {
  @Test
  void mismatchesFail() {
    assertThrows(AssertionError.class, () -> Scenarios.match("present", "", "x"));
    assertThrows(AssertionError.class, () -> Scenarios.match("absent", Map.of("a", 1.0), "x"));
    assertThrows(AssertionError.class, () -> Scenarios.match(2.0, "3", "x"));
    assertThrows(AssertionError.class, () -> Scenarios.match(Map.of("$len", 2.0), List.of(1.0), "x"));
    assertThrows(AssertionError.class,
        () -> Scenarios.match(Map.of("$contains", List.of(Map.of("name", "B"))), List.of(Map.of("name", "A")), "x"));
    assertThrows(AssertionError.class, () -> Scenarios.match(Map.of("$exact", Map.of()), Map.of("a", 1.0), "x"));
  }

  @Test
  void matchesPass() {
    Scenarios.match(2.0, "2", "x");
    Scenarios.match(Map.of("$contains", List.of(Map.of("name", "B"))), List.of(Map.of("name", "A"), Map.of("name", "B", "n", 1.0)), "x");
    Scenarios.match(Map.of("a", "present"), Map.of("a", "v", "extra", true), "x");
  }
}
