package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
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

  @Test
  void everyArrayTypeIsAList() {
    Map<String, Object> props = new java.util.LinkedHashMap<>();
    props.put("ints", new int[] {1, 2});
    props.put("longs", new long[] {3L});
    props.put("doubles", new double[] {0.5});
    props.put("floats", new float[] {1.5f});
    props.put("shorts", new short[] {4});
    props.put("bytes", new byte[] {5});
    props.put("booleans", new boolean[] {true, false});
    props.put("chars", new char[] {'a'});
    props.put("nested", new int[][] {{1}, {}});
    props.put("objects", new Object[] {"x", null});
    props.put("empty", new long[0]);
    Map<String, Object> expected = new java.util.LinkedHashMap<>();
    expected.put("ints", List.of(1.0, 2.0));
    expected.put("longs", List.of(3.0));
    expected.put("doubles", List.of(0.5));
    expected.put("floats", List.of(1.5));
    expected.put("shorts", List.of(4.0));
    expected.put("bytes", List.of(5.0));
    expected.put("booleans", List.of(true, false));
    expected.put("chars", List.of("a"));
    expected.put("nested", List.of(List.of(1.0), List.of()));
    expected.put("objects", java.util.Arrays.asList("x", null));
    expected.put("empty", List.of());
    assertEquals(expected, Values.fromStruct(Values.toStruct(props)));
    refused(new double[] {1.0, Double.NaN}, "props[p][1]");
  }

  @Test
  void aLoneSurrogateIsRefused() {
    refused("ok \uD800", "props[p]: a string with a lone surrogate U+D800 at index 3");
    refused(List.of("fine \uD83D\uDE00", "\uDC00x"), "props[p][1]: a string with a lone surrogate U+DC00 at index 0");
    refused(Map.of("k\uD800", 1), "props[p]: a key with a lone surrogate U+D800 at index 1");
    refused(new StringBuilder("\uD800"), "props[p]");
    refused('\uDFFF', "props[p]");
    assertEquals("\uD83D\uDE00", Values.fromValue(Values.toValue("\uD83D\uDE00"))); // a pair is fine
  }
}
