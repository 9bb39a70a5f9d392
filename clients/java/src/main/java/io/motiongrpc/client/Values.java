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
 * Plain Java values to and from {@code google.protobuf.Value}: null, Boolean, Number, String,
 * Map with String keys, and Iterable or array. Numbers come back as Double.
 */
public final class Values {
  private Values() {}

  /** Encodes a JSON-like value; throws IllegalArgumentException for anything else. */
  public static Value toValue(Object value) {
    if (value == null) return Value.newBuilder().setNullValue(NullValue.NULL_VALUE).build();
    if (value instanceof Value v) return v;
    if (value instanceof Boolean b) return Value.newBuilder().setBoolValue(b).build();
    if (value instanceof Number n) return Value.newBuilder().setNumberValue(n.doubleValue()).build();
    if (value instanceof CharSequence s) return Value.newBuilder().setStringValue(s.toString()).build();
    if (value instanceof Map<?, ?> m) return Value.newBuilder().setStructValue(toStruct(m)).build();
    if (value instanceof Iterable<?> items) return Value.newBuilder().setListValue(toList(items)).build();
    if (value instanceof Object[] items) return toValue(List.of(items));
    throw new IllegalArgumentException("cannot send a " + value.getClass().getName() + " as a protobuf Value");
  }

  /** Encodes a map with String keys; null is an empty Struct. */
  public static Struct toStruct(Map<?, ?> map) {
    Struct.Builder struct = Struct.newBuilder();
    if (map == null) return struct.build();
    for (Map.Entry<?, ?> entry : map.entrySet()) {
      if (!(entry.getKey() instanceof String key)) {
        throw new IllegalArgumentException("Struct keys must be strings, got " + entry.getKey());
      }
      struct.putFields(key, toValue(entry.getValue()));
    }
    return struct.build();
  }

  private static ListValue toList(Iterable<?> items) {
    ListValue.Builder list = ListValue.newBuilder();
    for (Object item : items) list.addValues(toValue(item));
    return list.build();
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
