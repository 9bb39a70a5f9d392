package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/** The README's example is src/test/java/example/Example.java, verbatim, and runs. */
class ReadmeTest {
  @Test
  void theReadmeShowsTheExampleAsItIs() throws Exception {
    String example = Files.readString(Path.of("src/test/java/example/Example.java"));
    assertTrue(Files.readString(Path.of("README.md")).contains(example), "README.md differs from Example.java");
  }

  @Test
  @EnabledIfEnvironmentVariable(named = "MOTION_TARGET", matches = ".+")
  void theExampleRuns() {
    PrintStream out = System.out;
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    System.setOut(new PrintStream(printed, true));
    try {
      example.Example.main(new String[0]);
    } finally {
      System.setOut(out);
    }
    assertTrue(printed.toString().contains("count="), printed.toString());
  }
}
