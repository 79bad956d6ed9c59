// Reads trades-2s as a read_committed consumer and prints one line per record: the ISIN, the window,
// the trade count, how the window closed, the record timestamp and the trade as the feed wrote it.
// Needs only org.apache.kafka:kafka-clients (and the jars it depends on) on the classpath:
//
//   javac -cp "$CP" -d out Trades2sConsumer.java
//   java -cp "out:$CP" Trades2sConsumer localhost:9092 [topic] [group] [max]
//
// It is the example of docs/consumers.md; `make test-integration` compiles it and runs it against the
// real broker beside the Go example in ../consumer-go, and both must print the same lines.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

public final class Trades2sConsumer {
    private Trades2sConsumer() {}

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: Trades2sConsumer <bootstrap> [topic] [group] [max]");
            System.exit(2);
        }
        String topic = args.length > 1 ? args[1] : "trades-2s";
        String group = args.length > 2 ? args[2] : "trades-2s-reader";
        long max = args.length > 3 ? Long.parseLong(args[3]) : 0; // 0: until killed

        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        // The Java client's default is read_uncommitted, which would also show the records of
        // transactions the aggregator aborted. Never leave this out.
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        long n = 0;
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p)) {
            consumer.subscribe(List.of(topic));
            while (max <= 0 || n < max) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    System.out.println(describe(r));
                    if (++n == max) break;
                }
            }
        }
    }

    // One record as a line: the key is the ISIN, the value the original bytes of the window's latest
    // trade, the timestamp its event time.
    static String describe(ConsumerRecord<String, byte[]> r) {
        return "isin=" + r.key()
                + " window-start=" + header(r, "window-start")
                + " window-end=" + header(r, "window-end")
                + " trade-count=" + header(r, "trade-count")
                + " closed-by=" + header(r, "closed-by")
                + " timestamp=" + r.timestamp()
                + " value=" + new String(r.value(), StandardCharsets.UTF_8);
    }

    static String header(ConsumerRecord<String, byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? "" : new String(h.value(), StandardCharsets.UTF_8);
    }
}
