package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Values JSON cannot carry are refused before anything is sent, naming where they are. */
class ValuesTest {
  private static void refused(Object props, String names) {
    try (MotionClient client = new MotionClient("127.0.0.1:1")) { // never contacted
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> client.instance("Counter", "x").run("add", Map.of("p", props)));
      assertTrue(e.getMessage().contains(names), e.getMessage());
    }
  }

  @Test
  void nanAndInfinitiesAreRefused() {
    refused(List.of(1.0, Double.NaN), "props[p][1]");
    refused(Float.POSITIVE_INFINITY, "props[p]");
  }

  @Test
  void anObjectWithoutAMappingIsRefused() {
    refused(new Object(), "java.lang.Object has no JSON form");
    refused(Map.of(1, "x"), "keys must be strings");
  }

  @Test
  void aCycleIsRefused() {
    List<Object> cycle = new ArrayList<>();
    cycle.add(cycle);
    refused(cycle, "nested more than");
    Map<String, Object> self = new HashMap<>();
    self.put("self", self);
    refused(self, "nested more than");
  }
}
