package io.motiongrpc.client;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Variables, paths and the matching rules of conformance/README.md; a mismatch is an AssertionError. */
final class Scenarios {
  private static final Pattern VARIABLE = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)\\}");

  private Scenarios() {}

  /** Replaces "${name}" (any JSON type) and ${name} inside strings (its text). */
  static Object substitute(Object value, Map<String, Object> vars) {
    if (value instanceof String s) {
      Matcher whole = VARIABLE.matcher(s);
      if (whole.matches()) return variable(vars, whole.group(1));
      return VARIABLE.matcher(s).replaceAll(m -> Matcher.quoteReplacement(text(variable(vars, m.group(1)))));
    }
    if (value instanceof List<?> list) {
      List<Object> out = new ArrayList<>();
      for (Object item : list) out.add(substitute(item, vars));
      return out;
    }
    if (value instanceof Map<?, ?> map) {
      Map<String, Object> out = new LinkedHashMap<>();
      map.forEach((key, item) -> out.put((String) key, substitute(item, vars)));
      return out;
    }
    return value;
  }

  private static Object variable(Map<String, Object> vars, String name) {
    if (!vars.containsKey(name)) throw new AssertionError("unknown variable " + name);
    return vars.get(name);
  }

  private static String text(Object value) {
    if (value instanceof Double d && d == Math.rint(d)) return String.valueOf(d.longValue());
    return String.valueOf(value);
  }

  /** The value at a dot-separated path; integer segments index lists. */
  static Object lookup(Object value, String path) {
    for (String segment : path.split("\\.")) {
      if (value instanceof Map<?, ?> map && map.containsKey(segment)) {
        value = map.get(segment);
      } else if (value instanceof List<?> list && segment.matches("\\d+") && Integer.parseInt(segment) < list.size()) {
        value = list.get(Integer.parseInt(segment));
      } else {
        throw new AssertionError("nothing at " + path + " in " + value);
      }
    }
    return value;
  }

  /** Compares the code, reason, error metadata, response and messages with expect. */
  @SuppressWarnings("unchecked")
  static void check(Map<String, Object> expect, Object response, MotionException error) {
    String code = error == null ? "OK" : error.code().name();
    if (!code.equals(expect.getOrDefault("code", "OK"))) {
      throw new AssertionError("code " + code + ", want " + expect.get("code") + " (" + error + ")");
    }
    if (expect.containsKey("reason")
        && !(expect.get("reason").equals(error.reason()) && "motion-grpc".equals(error.domain()))) {
      throw new AssertionError("reason " + error.reason() + " in " + error.domain() + ", want " + expect.get("reason"));
    }
    Map<String, Object> metadata = (Map<String, Object>) expect.getOrDefault("errorMetadata", Map.of());
    metadata.forEach((key, value) -> {
      if (!value.equals(error.metadata().get(key))) throw new AssertionError("error metadata " + key + ": " + error.metadata());
    });
    if (expect.containsKey("response")) match(expect.get("response"), response, "response");
    if (expect.containsKey("messages")) match(expect.get("messages"), lookup(response, "messages"), "messages");
  }

  private static boolean isDefault(Object v) {
    return v == null || "".equals(v) || "0".equals(v) || Double.valueOf(0).equals(v) || Boolean.FALSE.equals(v)
        || (v instanceof List<?> l && l.isEmpty()) || (v instanceof Map<?, ?> m && m.isEmpty());
  }

  private static Double number(Object v) {
    if (v instanceof Double d) return d;
    if (v instanceof String s) {
      try {
        return Double.valueOf(s);
      } catch (NumberFormatException e) {
        return null;
      }
    }
    return null;
  }

  static void match(Object expected, Object actual, String where) {
    String mismatch = where + ": got " + actual + ", want " + expected;
    if ("present".equals(expected)) {
      if (isDefault(actual)) throw new AssertionError(mismatch);
    } else if ("absent".equals(expected)) {
      if (!isDefault(actual)) throw new AssertionError(mismatch);
    } else if (expected instanceof Double d) {
      if (!d.equals(number(actual))) throw new AssertionError(mismatch);
    } else if (expected instanceof List<?> list) {
      if (!(actual instanceof List<?> got) || got.size() != list.size()) throw new AssertionError(mismatch);
      for (int i = 0; i < list.size(); i++) match(list.get(i), got.get(i), where + "[" + i + "]");
    } else if (expected instanceof Map<?, ?> map) {
      matchObject(map, actual, where, mismatch);
    } else if (!Objects.equals(expected, actual)) {
      throw new AssertionError(mismatch);
    }
  }

  private static void matchObject(Map<?, ?> expected, Object actual, String where, String mismatch) {
    if (expected.containsKey("$len")) {
      int length = actual instanceof List<?> l ? l.size() : actual instanceof String s ? s.length() : -1;
      if (length != ((Double) expected.get("$len")).intValue()) throw new AssertionError(mismatch);
    } else if (expected.containsKey("$contains")) {
      if (!(actual instanceof List<?> got)) throw new AssertionError(mismatch);
      for (Object want : (List<?>) expected.get("$contains")) {
        if (got.stream().noneMatch(item -> matches(want, item))) throw new AssertionError(where + ": nothing matches " + want + " in " + got);
      }
    } else if (expected.containsKey("$gte")) {
      Double got = number(actual);
      if (got == null || got < (Double) expected.get("$gte")) throw new AssertionError(mismatch);
    } else if (expected.containsKey("$exact")) {
      if (!Objects.equals(expected.get("$exact"), actual)) throw new AssertionError(mismatch);
    } else {
      if (!(actual instanceof Map<?, ?> got)) throw new AssertionError(mismatch);
      expected.forEach((key, value) -> match(value, got.get(key), where + "." + key));
    }
  }

  private static boolean matches(Object expected, Object actual) {
    try {
      match(expected, actual, "");
      return true;
    } catch (AssertionError e) {
      return false;
    }
  }
}
