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
 * CharSequence, or a Character), Map with String keys, and Iterable or array (of objects or of
 * primitives: {@code int[]}, {@code double[]}...). Numbers come back as Double. Anything else, NaN,
 * infinities, strings (values or keys) holding a lone UTF-16 surrogate, which UTF-8 cannot carry,
 * and structures nested deeper than 100 levels (or cyclic) are refused with an
 * IllegalArgumentException naming where they are, before anything is sent.
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
    if (value instanceof CharSequence s) return out.setStringValue(text(path, "a string", s.toString())).build();
    if (value instanceof Character c) return out.setStringValue(text(path, "a string", c.toString())).build();
    if (value instanceof Map<?, ?> m) return out.setStructValue(toStruct(path, m, depth)).build();
    if (value instanceof Iterable<?> items) return out.setListValue(toList(path, items, depth)).build();
    if (value.getClass().isArray()) return out.setListValue(toList(path, value, depth)).build();
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
      struct.putFields(text(path, "a key", key), toValue(path + "[" + key + "]", entry.getValue(), depth + 1));
    }
    return struct.build();
  }

  private static ListValue toList(String path, Iterable<?> items, int depth) {
    ListValue.Builder list = ListValue.newBuilder();
    int index = 0;
    for (Object item : items) list.addValues(toValue(path + "[" + index++ + "]", item, depth + 1));
    return list.build();
  }

  /** Any array, primitive or not (java.lang.reflect.Array reads both). */
  private static ListValue toList(String path, Object array, int depth) {
    ListValue.Builder list = ListValue.newBuilder();
    int length = java.lang.reflect.Array.getLength(array);
    for (int i = 0; i < length; i++) {
      list.addValues(toValue(path + "[" + i + "]", java.lang.reflect.Array.get(array, i), depth + 1));
    }
    return list.build();
  }

  /**
   * text, if UTF-8 can carry it: a lone UTF-16 surrogate cannot (protobuf would send it as "?"),
   * so it is refused, as the Python client refuses it.
   */
  private static String text(String path, String what, String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (!Character.isSurrogate(c)) continue;
      if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
        i++; // a pair: one code point
        continue;
      }
      throw refuse(path, String.format(
          "%s with a lone surrogate U+%04X at index %d, which UTF-8 cannot carry", what, (int) c, i));
    }
    return text;
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
