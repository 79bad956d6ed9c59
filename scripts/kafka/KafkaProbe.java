// Readiness check and smoke test for the broker started by scripts/kafka-local.sh.
// Compiled once by the script against the Kafka client jars; kept dependency-free otherwise.
//
//   KafkaProbe ready <timeoutSec> <pid|0> <bootstrap> [<saslBootstrap> <user> <password>]
//       Waits until the broker answers a DescribeCluster request on <bootstrap> (and, when given,
//       on the SASL_PLAINTEXT/SCRAM-SHA-512 listener). Gives up early if process <pid> dies.
//   KafkaProbe smoke <bootstrap> <topic> [<saslBootstrap> <user> <password>]
//       On an existing topic: commits one transaction and aborts another, then checks that a
//       read_committed consumer sees exactly the committed records; then produces and consumes one
//       record through the SCRAM listener when given.
//
// Diagnostics go to stderr; exit code 0 means success.

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class KafkaProbe {
    private KafkaProbe() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) usage();
        switch (args[0]) {
            case "ready" -> System.exit(ready(args));
            case "smoke" -> System.exit(smoke(args));
            default -> usage();
        }
    }

    private static void usage() {
        System.err.println("usage: KafkaProbe ready <timeoutSec> <pid|0> <bootstrap> [<saslBootstrap> <user> <password>]");
        System.err.println("       KafkaProbe smoke <bootstrap> <topic> [<saslBootstrap> <user> <password>]");
        System.exit(2);
    }

    private static Properties base(String bootstrap) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.CLIENT_ID_CONFIG, "kafka-local-probe");
        return p;
    }

    private static Properties scram(String bootstrap, String user, String password) {
        Properties p = base(bootstrap);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        p.put("sasl.mechanism", "SCRAM-SHA-512");
        p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + jaasEscape(user) + "\" password=\"" + jaasEscape(password) + "\";");
        return p;
    }

    private static String jaasEscape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    /** One DescribeCluster round trip; returns a summary or throws. */
    private static String describe(Properties props, int timeoutMs) throws Exception {
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(timeoutMs));
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(timeoutMs));
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
        try (Admin admin = Admin.create(props)) {
            DescribeClusterResult r = admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeoutMs));
            String id = r.clusterId().get(timeoutMs, TimeUnit.MILLISECONDS);
            int nodes = r.nodes().get(timeoutMs, TimeUnit.MILLISECONDS).size();
            var controller = r.controller().get(timeoutMs, TimeUnit.MILLISECONDS);
            if (nodes < 1) throw new IllegalStateException("no live brokers yet");
            return "cluster=" + id + " brokers=" + nodes + " controller=" + (controller == null ? "none" : controller.id());
        }
    }

    private static int ready(String[] a) throws Exception {
        if (a.length != 4 && a.length != 7) usage();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(a[1]));
        long pid = Long.parseLong(a[2]);
        String lastError = "timed out";
        String[][] targets = a.length == 7
                ? new String[][] {{"PLAINTEXT", a[3]}, {"SASL_PLAINTEXT/SCRAM-SHA-512", a[4]}}
                : new String[][] {{"PLAINTEXT", a[3]}};
        for (String[] t : targets) {
            boolean ok = false;
            while (!ok && System.nanoTime() < deadline) {
                if (pid > 0 && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                    System.err.println("probe: broker process " + pid + " exited");
                    return 1;
                }
                Properties p = t[0].equals("PLAINTEXT") ? base(t[1]) : scram(t[1], a[5], a[6]);
                try {
                    String s = describe(p, 3000);
                    System.err.println("probe: " + t[0] + " " + t[1] + " answers: " + s);
                    ok = true;
                } catch (Exception e) {
                    Throwable c = e.getCause() != null ? e.getCause() : e;
                    lastError = c.getClass().getSimpleName() + ": " + c.getMessage();
                    Thread.sleep(300);
                }
            }
            if (!ok) {
                System.err.println("probe: " + t[0] + " " + t[1] + " not ready: " + lastError);
                return 1;
            }
        }
        return 0;
    }

    private static int smoke(String[] a) throws Exception {
        if (a.length != 3 && a.length != 6) usage();
        String bootstrap = a[1];
        String topic = a[2];
        String run = UUID.randomUUID().toString().substring(0, 8);
        int committed = 5;

        // 1. one committed and one aborted transaction
        Properties pp = base(bootstrap);
        pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "kafka-local-probe-" + run);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(pp)) {
            prod.initTransactions();
            prod.beginTransaction();
            for (int i = 0; i < committed; i++) prod.send(new ProducerRecord<>(topic, "k" + i, run + "-committed-" + i));
            prod.commitTransaction();
            prod.beginTransaction();
            for (int i = 0; i < 3; i++) prod.send(new ProducerRecord<>(topic, "k" + i, run + "-aborted-" + i));
            prod.flush();
            prod.abortTransaction();
        }
        System.err.println("smoke: committed " + committed + " and aborted 3 records in transactions");

        // 2. read_committed consumer must see exactly the committed ones of this run
        List<String> seen = consumeAll(base(bootstrap), topic, run, "read_committed");
        long ok = seen.stream().filter(v -> v.contains("-committed-")).count();
        long bad = seen.stream().filter(v -> v.contains("-aborted-")).count();
        System.err.println("smoke: read_committed consumer saw " + ok + " committed, " + bad + " aborted records of run " + run);
        if (ok != committed || bad != 0) return 1;

        // 3. SCRAM listener: produce + consume one record
        if (a.length == 6) {
            Properties sp = scram(a[3], a[4], a[5]);
            sp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            sp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            sp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
            try (KafkaProducer<String, String> prod = new KafkaProducer<>(sp)) {
                prod.send(new ProducerRecord<>(topic, "sasl", run + "-sasl")).get(30, TimeUnit.SECONDS);
            }
            List<String> s2 = consumeAll(scram(a[3], a[4], a[5]), topic, run + "-sasl", "read_committed");
            System.err.println("smoke: SCRAM-SHA-512 user " + a[4] + " on " + a[3] + " produced and consumed " + s2.size() + " record(s)");
            if (s2.size() != 1) return 1;
        }
        System.err.println("smoke: OK");
        return 0;
    }

    /** Reads every partition of the topic from the beginning to the end; returns values containing marker. */
    private static List<String> consumeAll(Properties cp, String topic, String marker, String isolation) {
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
            List<TopicPartition> tps = new ArrayList<>();
            c.partitionsFor(topic, Duration.ofSeconds(30)).forEach(pi -> tps.add(new TopicPartition(topic, pi.partition())));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(30));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                boolean done = true;
                for (TopicPartition tp : tps) if (c.position(tp) < end.get(tp)) done = false;
                if (done) break;
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    if (r.value() != null && r.value().contains(marker)) out.add(r.value());
                }
            }
        }
        return out;
    }
}
