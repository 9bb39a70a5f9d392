package example;

import io.motiongrpc.client.Instance;
import io.motiongrpc.client.MotionClient;
import java.util.Map;
import java.util.Objects;

public class Example {
  public static void main(String[] args) {
    String target = Objects.requireNonNullElse(System.getenv("MOTION_TARGET"), "localhost:50051");
    try (MotionClient client = new MotionClient(target)) {
      Instance counter = client.instance("Counter", "user42");
      Object result = counter.run("add", Map.of("n", 3)); // the serve op's answer, now
      long version = counter.flush(null).version();       // wait for the queued update
      System.out.println(result + " " + version + " " + counter.getState());
    }
  }
}
