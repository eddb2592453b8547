package engagement.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;

/**
 * The Kafka Streams peer of `make bench`: events per key (the account) in 60 s tumbling windows with
 * 300 s grace, counted in a RocksDB window store, exactly-once, the counts' updates sent to an output
 * topic. "parsed" reads each value as JSON (Jackson), "unparsed" leaves the bytes untouched.
 *
 * <p>Usage: WindowedCount parsed|unparsed BOOTSTRAP APPLICATION_ID INPUT OUTPUT COMMIT_INTERVAL_MS STATE_DIR
 */
public final class WindowedCount {
    private static final Duration WINDOW = Duration.ofSeconds(60);
    private static final Duration GRACE = Duration.ofSeconds(300);

    private WindowedCount() {
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 7 || !(args[0].equals("parsed") || args[0].equals("unparsed"))) {
            System.err.println("usage: WindowedCount parsed|unparsed BOOTSTRAP APPLICATION_ID INPUT OUTPUT "
                    + "COMMIT_INTERVAL_MS STATE_DIR");
            System.exit(2);
        }
        Properties config = new Properties();
        config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
        config.put(StreamsConfig.APPLICATION_ID_CONFIG, args[2]);
        config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        config.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        config.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(args[5]));
        config.put(StreamsConfig.STATE_DIR_CONFIG, args[6]);
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");

        StreamsBuilder builder = new StreamsBuilder();
        if (args[0].equals("parsed")) {
            KStream<String, JsonNode> events = builder.stream(args[3], Consumed.with(Serdes.String(), jsonSerde()));
            // Reading a field of every parsed tree: the parse is part of the work, as in a real application.
            countPerWindow(events.filter((account, event) -> event != null && event.path("account_id").isTextual()),
                    jsonSerde(), args[4]);
        } else {
            countPerWindow(builder.stream(args[3], Consumed.with(Serdes.String(), Serdes.ByteArray())),
                    Serdes.ByteArray(), args[4]);
        }

        KafkaStreams streams = new KafkaStreams(builder.build(config), config);
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicInteger exitCode = new AtomicInteger();
        // A stream thread that died leaves the client in ERROR: exit non-zero so the bench sees it at once.
        streams.setStateListener((newState, oldState) -> {
            if (newState == KafkaStreams.State.ERROR) {
                exitCode.set(1);
                stopped.countDown();
            }
        });
        // SIGTERM from the bench: close cleanly (commit, release the group) before the JVM exits.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(10));
            stopped.countDown();
        }, "close-on-sigterm"));
        streams.start();
        stopped.await();
        if (exitCode.get() != 0) {
            System.exit(exitCode.get());
        }
    }

    private static <V> void countPerWindow(KStream<String, V> events, Serde<V> valueSerde, String output) {
        events.groupByKey(Grouped.with(Serdes.String(), valueSerde))
                .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, GRACE))
                .count()
                .toStream()
                .to(output, Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, WINDOW.toMillis()),
                        Serdes.Long()));
    }

    private static Serde<JsonNode> jsonSerde() {
        ObjectMapper mapper = new ObjectMapper();
        Serializer<JsonNode> serializer = (topic, node) -> {
            try {
                return node == null ? null : mapper.writeValueAsBytes(node);
            } catch (IOException e) {
                throw new SerializationException(e);
            }
        };
        Deserializer<JsonNode> deserializer = (topic, bytes) -> {
            try {
                return bytes == null ? null : mapper.readTree(bytes);
            } catch (IOException e) {
                throw new SerializationException(e);
            }
        };
        return Serdes.serdeFrom(serializer, deserializer);
    }
}
