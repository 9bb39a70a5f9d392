package io.motiongrpc.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.File;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * TLS, mTLS and API keys against a real {@code motion-grpc serve --tls-cert --tls-key
 * --tls-client-ca --api-key-file} hosting examples/counter.py.
 *
 * <p>tests/security/test_client_tls.py makes the certificates and keys, starts the server and runs
 * this class alone ({@code mvn test -Dtest=TlsServerCheck}), with MOTION_TLS_TARGET, the PEM paths
 * MOTION_TLS_CA, MOTION_TLS_CERT, MOTION_TLS_KEY, MOTION_TLS_STRANGER_CERT, MOTION_TLS_STRANGER_KEY
 * and the keys MOTION_ADMIN_KEY, MOTION_CLIENT_KEY. Its name is outside surefire's default
 * includes, so a plain {@code mvn test} (which has no such server) neither runs nor skips it.
 */
@EnabledIfEnvironmentVariable(named = "MOTION_TLS_TARGET", matches = ".+")
class TlsServerCheck {
  private static File pem(String name) {
    return new File(System.getenv(name));
  }

  /** A client with the CA, the client certificate and the client key, changed by {@code options}. */
  private static MotionClient connect(UnaryOperator<MotionClient.Builder> options) {
    MotionClient.Builder builder = MotionClient.builder(System.getenv("MOTION_TLS_TARGET"))
        .tls(pem("MOTION_TLS_CA"))
        .clientCertificate(pem("MOTION_TLS_CERT"), pem("MOTION_TLS_KEY"))
        .apiKey(System.getenv("MOTION_CLIENT_KEY"))
        .serviceConfig(null);
    return options.apply(builder).build();
  }

  private static Instance counter(MotionClient client, String id) {
    return client.instance("Counter", id).withTimeout(Duration.ofSeconds(10));
  }

  private static Status.Code failure(MotionClient client) {
    try (client) {
      return assertThrows(MotionException.class, client::describe).code();
    }
  }

  @Test
  void mutualTlsWithAClientKeyRunsStreamsAndReads() {
    try (MotionClient client = connect(b -> b)) {
      Instance counter = counter(client, "java-tls-" + UUID.randomUUID());
      assertEquals(2.0, counter.run("add", Map.of("n", 2)));
      counter.flush(null);
      List<Object> items = new ArrayList<>();
      try (RunStream stream = counter.runStream("add", Map.of("n", 3))) {
        for (Object item : stream) items.add(item);
      }
      assertEquals(List.of(5.0), items);
      counter.flush(null);
      assertEquals(Map.of("count", 5.0), counter.getState("count"));
    }
  }

  @Test
  void aClientKeyCannotWriteStateAndTheAdminKeyCan() {
    String id = "java-tls-" + UUID.randomUUID();
    try (MotionClient client = connect(b -> b)) {
      counter(client, id).run("add", Map.of("n", 1));
      MotionException denied = assertThrows(MotionException.class, () -> counter(client, id).writeState(Map.of("count", 40)));
      assertEquals(Status.Code.PERMISSION_DENIED, denied.code());
    }
    try (MotionClient admin = connect(b -> b.apiKey(System.getenv("MOTION_ADMIN_KEY")))) {
      assertTrue(counter(admin, id).writeState(Map.of("count", 40)) >= 2);
      assertEquals(Map.of("count", 40.0), counter(admin, id).getState("count"));
    }
  }

  @Test
  void aWrongKeyIsUnauthenticated() {
    assertEquals(Status.Code.UNAUTHENTICATED, failure(connect(b -> b.apiKey("not-a-key-0123456789abcdef"))));
  }

  @Test
  void noKeyIsUnauthenticated() {
    String target = System.getenv("MOTION_TLS_TARGET");
    MotionClient client = MotionClient.builder(target).tls(pem("MOTION_TLS_CA"))
        .clientCertificate(pem("MOTION_TLS_CERT"), pem("MOTION_TLS_KEY")).serviceConfig(null).build();
    assertEquals(Status.Code.UNAUTHENTICATED, failure(client));
  }

  @Test
  void withoutACertificateOfTheCaOrInPlaintextTheConnectionIsRefused() {
    String target = System.getenv("MOTION_TLS_TARGET");
    String key = System.getenv("MOTION_CLIENT_KEY");
    MotionClient noCertificate = MotionClient.builder(target).tls(pem("MOTION_TLS_CA")).apiKey(key).serviceConfig(null).build();
    assertEquals(Status.Code.UNAVAILABLE, failure(noCertificate));
    MotionClient stranger = connect(b -> b.clientCertificate(pem("MOTION_TLS_STRANGER_CERT"), pem("MOTION_TLS_STRANGER_KEY")));
    assertEquals(Status.Code.UNAVAILABLE, failure(stranger));
    MotionClient plaintext = MotionClient.builder(target).apiKey(key).serviceConfig(null).build();
    assertEquals(Status.Code.UNAVAILABLE, failure(plaintext));
    try (MotionClient client = connect(b -> b)) {
      assertFalse(client.describe().isEmpty()); // the server kept serving
    }
  }
}
