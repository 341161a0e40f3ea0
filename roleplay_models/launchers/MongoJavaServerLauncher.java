// A throwaway mongo-java-server (in-memory backend) for roleplay_models' tests.
//
// Run in source-file mode, no compile step:
//     java -cp CLASSPATH MongoJavaServerLauncher.java PORT
// Binds 127.0.0.1:PORT, prints "listening 127.0.0.1:PORT" once bound and
// shuts down on SIGTERM. It reports MongoDB 4.4 / wire version 9, since the
// default (4.0 / wire 7) is refused by pymongo >= 4.14.

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;

public class MongoJavaServerLauncher {

    static final class Mongo44 implements MongoVersion {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    }

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: java -cp CLASSPATH MongoJavaServerLauncher.java PORT");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        MongoServer server = new MongoServer(new MemoryBackend().version(new Mongo44()));
        try {
            server.bind("127.0.0.1", port);
        } catch (Exception e) { // Netty rethrows a BindException unchecked
            // Netty's threads are already running and would keep the JVM up.
            e.printStackTrace();
            System.exit(1);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "shutdown"));
        System.out.println("listening 127.0.0.1:" + port);
        System.out.flush();
        // Netty's event loop threads are non-daemon and keep the JVM running.
    }
}
