package io.motiongrpc.client;

import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Plain Java values to and from {@code google.protobuf.Value}: null, Boolean, Number, String (any
 * CharSequence), Map with String keys, and Iterable or array. Numbers come back as Double. Anything
 * else, NaN, infinities and structures nested deeper than 100 levels (or cyclic) are refused with
 * an IllegalArgumentException naming where they are, before anything is sent.
 */
public final class Values {
  private static final int MAX_DEPTH = 100;

  private Values() {}

  /** Encodes a JSON-like value; throws IllegalArgumentException for anything else. */
  public static Value toValue(Object value) {
    return toValue("value", value, 0);
  }

  /** Encodes a map with String keys (props, a patch...); null is an empty Struct. */
  public static Struct toStruct(Map<?, ?> map) {
    return toStruct("value", map);
  }

  static Struct toStruct(String path, Map<?, ?> map) {
    return map == null ? Struct.getDefaultInstance() : toStruct(path, map, 0);
  }

  private static Value toValue(String path, Object value, int depth) {
    if (depth > MAX_DEPTH) throw refuse(path, "nested more than " + MAX_DEPTH + " levels deep (a cycle?)");
    Value.Builder out = Value.newBuilder();
    if (value == null) return out.setNullValue(NullValue.NULL_VALUE).build();
    if (value instanceof Value v) return v;
    if (value instanceof Boolean b) return out.setBoolValue(b).build();
    if (value instanceof Number n) return out.setNumberValue(finite(path, n)).build();
    if (value instanceof CharSequence s) return out.setStringValue(s.toString()).build();
    if (value instanceof Map<?, ?> m) return out.setStructValue(toStruct(path, m, depth)).build();
    if (value instanceof Iterable<?> items) return out.setListValue(toList(path, items, depth)).build();
    if (value instanceof Object[] items) return toValue(path, java.util.Arrays.asList(items), depth);
    throw refuse(path, "a " + value.getClass().getName() + " has no JSON form (use a Map, List, String, Number...)");
  }

  private static double finite(String path, Number n) {
    double d = n.doubleValue();
    if (Double.isNaN(d) || Double.isInfinite(d)) throw refuse(path, d + " is not a JSON number");
    return d;
  }

  private static Struct toStruct(String path, Map<?, ?> map, int depth) {
    Struct.Builder struct = Struct.newBuilder();
    for (Map.Entry<?, ?> entry : map.entrySet()) {
      if (!(entry.getKey() instanceof String key)) {
        throw refuse(path, "keys must be strings, got " + entry.getKey());
      }
      struct.putFields(key, toValue(path + "[" + key + "]", entry.getValue(), depth + 1));
    }
    return struct.build();
  }

  private static ListValue toList(String path, Iterable<?> items, int depth) {
    ListValue.Builder list = ListValue.newBuilder();
    int index = 0;
    for (Object item : items) list.addValues(toValue(path + "[" + index++ + "]", item, depth + 1));
    return list.build();
  }

  private static IllegalArgumentException refuse(String path, String why) {
    return new IllegalArgumentException("cannot send " + path + ": " + why);
  }

  /** Decodes a Value; an unset Value is null. */
  public static Object fromValue(Value value) {
    return switch (value.getKindCase()) {
      case BOOL_VALUE -> value.getBoolValue();
      case NUMBER_VALUE -> value.getNumberValue();
      case STRING_VALUE -> value.getStringValue();
      case STRUCT_VALUE -> fromStruct(value.getStructValue());
      case LIST_VALUE -> {
        List<Object> list = new ArrayList<>();
        for (Value item : value.getListValue().getValuesList()) list.add(fromValue(item));
        yield list;
      }
      case NULL_VALUE, KIND_NOT_SET -> null;
    };
  }

  /** Decodes a Struct into a map that keeps the wire order. */
  public static Map<String, Object> fromStruct(Struct struct) {
    Map<String, Object> map = new LinkedHashMap<>();
    struct.getFieldsMap().forEach((key, value) -> map.put(key, fromValue(value)));
    return map;
  }
}
